// Command filterverify checks generated filter code against a real kernel
// verifier. It runs inside a VM guest (see vm_test.go, build tag vmtest):
// for every case of a JSON file it loads an object with filter
// placeholders, injects the case's pcap filters (classic BPF compiled on
// the host, since the guest binary is static and has no libpcap) and
// skb/xdp expressions (compiled here against the guest kernel's BTF),
// turns on the recorder's filter switches (CFG.filter_*) if the object has
// them, loads its kprobe programs with cilium/ebpf, and prints one line per
// case:
//
//	ok <case> <object> <program>=<instructions> ...
//	FAIL <case> <object>: <error, with the tail of the verifier log>
//
// It exits 1 if any case failed. Variants of a program that differ only in
// a numeric suffix are loaded once.
//
// Run it with `make vmtest-filters` or
//
//	go test -tags vmtest -timeout 40m -v ./internal/bpffilter/verify/ -args -kernels=6.12
//
// (one kernel takes 2-6 minutes under TCG on an idle machine, 15 on a busy
// one; the default 10-minute go test timeout is too short).
package main
