// Package export writes captures as a Parquet dataset that query engines
// (DuckDB, Spark, ClickHouse, Trino) read directly: three tables, events,
// skbs and captures, each partitioned Hive-style by host and day:
//
//	DIR/events/host=node-1/date=2026-01-02/3f2a9c0d1e4b5a67.parquet
//	DIR/skbs/host=node-1/date=2026-01-02/3f2a9c0d1e4b5a67.parquet
//	DIR/captures/host=node-1/date=2026-01-02/3f2a9c0d1e4b5a67.parquet
//
// A file is named by its capture's [analyze.CaptureID], so adding a capture
// to a dataset writes new files and never rewrites old ones. The rows are
// [analyze.Export]'s; the column names and types are the contract of
// analyze/PARQUET.md. Pure Go (github.com/parquet-go/parquet-go): no cgo.
// The events and skbs tables have a column writer of their own
// (pqfile.go) built on parquet-go's encoders and schema.
package export

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/parquet-go/parquet-go"
	"github.com/parquet-go/parquet-go/compress/zstd"

	"github.com/pwru-record/pwru-record/analyze"
)

// Tables are the dataset's tables, in the order they are written.
var Tables = []string{"events", "skbs", "captures"}

// ErrExists is returned (wrapped) when a capture is already in the dataset
// and Options.Overwrite is not set.
var ErrExists = errors.New("capture already exported")

// Options tune [WriteCapture].
type Options struct {
	// Export selects the events and skbs (the filters of every command).
	Export analyze.ExportOptions
	// Overwrite replaces the files of a capture already in the dataset.
	Overwrite bool
}

// Result says what [WriteCapture] wrote.
type Result struct {
	ID      string
	Files   []string // events, skbs, captures
	Capture *analyze.ExportCapture
}

// batch is how many rows a table writes between checks of its pages'
// sizes.
const batch = 1024

// zstdFastest compresses the pages: the dictionary and delta encodings
// did most of the work already.
var zstdFastest = zstd.Codec{Level: zstd.SpeedFastest}

// writerOptions are those of every table: zstd pages, row groups of a
// million rows, column index bounds for the numbers and times only (those
// of the strings and lists prune nothing and cost a comparison per value).
func writerOptions(row any, groupRows int64) []parquet.WriterOption {
	opts := []parquet.WriterOption{
		parquet.Compression(&zstdFastest),
		parquet.MaxRowsPerRowGroup(groupRows),
		parquet.PageBufferSize(1 << 20),
		parquet.DataPageStatistics(false),
		parquet.CreatedBy("pwru-replay", "", ""),
	}
	for _, col := range parquet.SchemaOf(row).Fields() {
		if col.Leaf() && col.Type().Kind() != parquet.ByteArray {
			continue
		}
		opts = append(opts, parquet.SkipPageBounds(col.Name()))
	}
	return opts
}

// Schemas returns the Parquet schemas of the three tables as text, one
// message per table (the golden test compares it with PARQUET.md's).
func Schemas() string {
	var b strings.Builder
	for i, s := range []*parquet.Schema{
		parquet.SchemaOf(new(analyze.ExportEvent)),
		parquet.SchemaOf(new(analyze.ExportSKB)),
		parquet.SchemaOf(new(analyze.ExportCapture)),
	} {
		if err := parquet.PrintSchema(&b, Tables[i], s); err != nil {
			return "error: " + err.Error()
		}
		b.WriteString("\n")
	}
	return b.String()
}

// sink hands the rows of analyze.Export to the tables' writers.
type sink struct {
	ev *eventsWriter
	sk *skbsWriter
}

func (s *sink) Event(r *analyze.ExportEvent) error { return s.ev.Write(r) }
func (s *sink) SKB(r *analyze.ExportSKB) error     { return s.sk.Write(r) }

// WriteTables writes c's three tables to events, skbs and captures (one
// Parquet file each) and returns its captures row. It is the twin of
// [WriteCapture] that tests and benchmarks use.
func WriteTables(events, skbs, captures io.Writer, c *analyze.Capture, o *analyze.ExportOptions) (*analyze.ExportCapture, error) {
	return writeTables(events, skbs, captures, c, o, 1<<20, pageBytes)
}

// writeTables is WriteTables with row groups of groupRows rows and
// events pages of about pageSize bytes.
func writeTables(events, skbs, captures io.Writer, c *analyze.Capture, o *analyze.ExportOptions, groupRows int64, pageSize int) (*analyze.ExportCapture, error) {
	// The capture's events bound the events table's rows (the filter may
	// select fewer); the skbs table's rows are not known ahead.
	ev, err := newEventsWriter(events, groupRows, pageSize, int64(c.File.Summary().Events), writerOptions(new(analyze.ExportEvent), groupRows))
	if err != nil {
		return nil, err
	}
	sk, err := newSKBsWriter(skbs, groupRows, pageSize, 0, writerOptions(new(analyze.ExportSKB), groupRows))
	if err != nil {
		return nil, err
	}
	row, err := analyze.Export(c, o, &sink{ev: ev, sk: sk})
	if err != nil {
		return nil, err
	}
	if err := ev.Close(); err != nil {
		return nil, err
	}
	if err := sk.Close(); err != nil {
		return nil, err
	}
	// One row: page buffers of 1 MiB per column would be most of the
	// export's allocations.
	copts := append(writerOptions(new(analyze.ExportCapture), groupRows), parquet.PageBufferSize(4<<10))
	cw := parquet.NewGenericWriter[analyze.ExportCapture](captures, copts...)
	if _, err := cw.Write([]analyze.ExportCapture{*row}); err != nil {
		return nil, fmt.Errorf("write captures table: %w", err)
	}
	if err := cw.Close(); err != nil {
		return nil, fmt.Errorf("write captures table: %w", err)
	}
	return row, nil
}

// Partition is the Hive partition of a capture: "host=node-1/date=2026-01-02".
func Partition(c *analyze.Capture) string {
	return "host=" + escape(c.File.Header().Hostname) + "/date=" + analyze.CaptureDay(c)
}

// escape percent-encodes the characters Hive escapes in a partition
// value (control characters and "#%'*/:=?\\{[]^ and DEL).
func escape(s string) string {
	if s == "" {
		return "unknown"
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		ch := s[i]
		if ch < 0x20 || ch == 0x7f || strings.IndexByte("\"#%'*/:=?\\{[]^", ch) >= 0 {
			fmt.Fprintf(&b, "%%%02X", ch)
			continue
		}
		b.WriteByte(ch)
	}
	return b.String()
}

// Paths returns the files of capture c in the dataset dir, by table.
func Paths(dir string, c *analyze.Capture) []string {
	name := analyze.CaptureID(c) + ".parquet"
	part := filepath.FromSlash(Partition(c))
	out := make([]string, len(Tables))
	for i, t := range Tables {
		out[i] = filepath.Join(dir, t, part, name)
	}
	return out
}

// WriteCapture adds capture c to the dataset in dir (created if needed).
// It fails with [ErrExists] when c is already there, unless o.Overwrite.
// The files appear whole or not at all: they are written beside their
// final names and renamed, the captures file last, so a reader that
// finds a capture's row finds its events and skbs.
func WriteCapture(dir string, c *analyze.Capture, o *Options) (*Result, error) {
	if o == nil {
		o = &Options{}
	}
	paths := Paths(dir, c)
	id := analyze.CaptureID(c)
	if !o.Overwrite {
		for _, p := range paths {
			if _, err := os.Stat(p); err == nil {
				return nil, fmt.Errorf("export %s: %w as %s (--overwrite replaces it)", c.Path, ErrExists, p)
			}
		}
	}
	tmps := make([]*os.File, len(paths))
	defer func() {
		for _, f := range tmps {
			if f != nil {
				f.Close()
				os.Remove(f.Name())
			}
		}
	}()
	ws := make([]io.Writer, len(paths))
	for i, p := range paths {
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			return nil, fmt.Errorf("create %s: %w", filepath.Dir(p), err)
		}
		f, err := os.CreateTemp(filepath.Dir(p), "."+id+"-*.tmp")
		if err != nil {
			return nil, fmt.Errorf("create %s: %w", p, err)
		}
		tmps[i], ws[i] = f, f
	}
	row, err := WriteTables(ws[0], ws[1], ws[2], c, &o.Export)
	if err != nil {
		return nil, err
	}
	for i, f := range tmps {
		if err := f.Close(); err != nil {
			return nil, fmt.Errorf("write %s: %w", paths[i], err)
		}
	}
	for i, f := range tmps {
		if err := os.Rename(f.Name(), paths[i]); err != nil {
			return nil, fmt.Errorf("write %s: %w", paths[i], err)
		}
		tmps[i] = nil
	}
	return &Result{ID: id, Files: paths, Capture: row}, nil
}
