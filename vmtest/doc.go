// Package vmtest holds the real-kernel end-to-end tests (build tag vmtest).
//
// TestMain builds the guest programs (the recorder ./cmd/pwru-record and
// the static scenario driver ./vmtest/guest), boots each selected Debian
// kernel once with internal/vm, runs every selected scenario in that one
// guest, and brings the captures back. The per-scenario tests then read
// the captures on the host, without privileges, with package format and
// assert on what they contain.
//
//	make vmtest KERNEL=6.12 RUN=Drop
//	go test -tags vmtest ./vmtest/ -run ICMP -args -kernels=6.1 -scenarios=icmp,drop
//
// Scenarios that the recorder cannot pass yet are listed as pending and
// run only when named in -scenarios (or with -scenarios=all).
package vmtest
