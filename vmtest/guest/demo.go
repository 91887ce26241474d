//go:build linux

package main

// scenarioDemo is what `make demo` records: three pings from A to B
// (good.pwru), then the same pings with an nftables rule in B that drops
// ICMP (bad.pwru).
func scenarioDemo(e *env) error {
	p, err := e.newPair("demo")
	if err != nil {
		return err
	}
	e.step("topology")
	for _, run := range []string{"good", "bad"} {
		if run == "bad" {
			if err := nftDropICMP(p.nsB); err != nil {
				return err
			}
		}
		err := e.pingRecorded(p, run, "demo", pingOpts{id: 0x4242, count: 3, size: 56},
			"--kmods", "veth", "--filter-func", netFuncs, "icmp and host "+addrB)
		if err != nil {
			return err
		}
	}
	return nil
}
