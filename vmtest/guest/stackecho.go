package main

// stackIDFilter admits only the echo request and reply with sequence 1.
const stackIDFilter = "icmp and host " + addrB + " and icmp[6:2] == 1"

// scenarioStackEcho: --filter-track-skb-by-stackid with --output-stack. The
// pcap filter admits only the echo with sequence 1; sequences 2 and 3 run
// through the same kernel stacks, so their events pass as tracked by stack
// id.
func scenarioStackEcho(e *env) error {
	p, err := e.newPair("stackecho")
	if err != nil {
		return err
	}
	e.step("topology")
	return e.pingRecorded(p, "main", "stackecho", pingOpts{id: 0x5353, count: 3, size: 40},
		"--filter-track-skb-by-stackid", "--output-stack", "--filter-func", netFuncs, stackIDFilter)
}
