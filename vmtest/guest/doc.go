//go:build linux

// Command guest drives the end-to-end scenarios inside the test VM. It is
// built statically (CGO_ENABLED=0) by the vmtest TestMain and run by the
// guest's /run.sh:
//
//	guest -recorder /bin/pwru-record -out /out -scenarios icmp,drop
//
// For each scenario it builds the topology (network namespaces, veth
// pairs, nftables rules, tc and XDP programs), starts the recorder, waits
// for its ready file, makes traffic, stops the recorder and writes
// /out/<scenario>/report.json (see vmtest/report) next to the captures.
// The host tests assert on those files; the guest only records facts.
package main
