// Package duckdbtest reads the Parquet export back with real DuckDB
// (github.com/duckdb/duckdb-go, cgo) and checks that SQL over the tables
// answers what pwru-replay's own stats, paths and diff answer. It is a
// module of its own so that pwru-replay never links DuckDB and stays
// CGO_ENABLED=0; `make duckdbtest` (part of `make unit`) runs it.
package duckdbtest
