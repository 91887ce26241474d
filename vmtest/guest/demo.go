//go:build linux

package main

import "syscall"

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
		rec, err := e.startRecorder(run, "--kmods", "veth", "--filter-func", netFuncs, "icmp and host "+addrB)
		if err != nil {
			return err
		}
		e.step(run + " attach")
		ping, err := newPinger(p.nsA, addrA)
		if err != nil {
			return err
		}
		for seq := uint16(1); seq <= 3; seq++ {
			pkt, err := ping.echo(addrB, 0x4242, seq, payload("demo", int(seq), 56))
			if err != nil {
				ping.Close()
				return err
			}
			pkt.Kind = "icmp-" + run
			e.rep.Traffic = append(e.rep.Traffic, pkt)
		}
		ping.Close()
		e.step(run + " traffic")
		if err := rec.stop(syscall.SIGINT); err != nil {
			return err
		}
		e.step(run + " stop")
	}
	return nil
}
