// Package vmtest holds the real-kernel end-to-end tests (build tag vmtest).
//
// TestMain builds the guest programs (the recorder ./cmd/pwru-record and
// the static scenario driver ./vmtest/guest), boots each selected Debian
// kernel once with internal/testsupport/vm, runs every selected scenario in that one
// guest, and brings the captures back. The per-scenario tests then read
// the captures on the host, without privileges, with package format and
// assert on what they contain. The kernels are 5.10, 6.1, 6.12 and latest
// (sid's newest cloud kernel); the guest probes each one's features first,
// and the run's results (exact packages, features, outcomes, wall times)
// land in .cache/vmtest/results.json for make kernel-matrix.
//
//	make vmtest KERNEL=6.12 RUN=Drop
//	make vmtest KERNEL=5.10,latest RUN='^TestHarness'
//	go test -tags vmtest ./vmtest/ -run ICMP -args -kernels=6.1 -scenarios=icmp,drop
//
// Scenarios that the recorder cannot pass yet are listed as pending and
// run only when named in -scenarios (or with -scenarios=all).
//
// -backend NAME (e.g. fentry) passes --backend NAME to every recorder run
// whose scenario neither picks its own --backend nor uses an option the
// fentry backend refuses (--filter-non-skb-funcs); the guest log names
// the runs it leaves alone.
package vmtest
