//go:build linux

package main

import (
	"bytes"
	"fmt"
	"os"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/cilium/ebpf"
	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"

	"github.com/pwru-record/pwru-record/vmtest/report"
)

// netFuncs limits the traced functions in the scenarios that do not need
// everything: single kprobes (the 6.1 backend) cost ~20 ms each to attach
// and ~25 ms to detach under TCG. It covers the IPv4 transmit and receive
// paths, veth, UDP, ICMP, netfilter and the drop and free functions.
const netFuncs = `^(veth_|ip_|icmp_|udp_|__udp|__dev_queue_xmit|dev_hard_start_xmit|__netif_receive_skb|netif_receive_skb|nf_hook_slow|nf_nat|kfree_skb|sk_skb_reason_drop|consume_skb|skb_release_)`

// payload makes a recognizable payload of n bytes.
func payload(tag string, i, n int) []byte {
	b := []byte(fmt.Sprintf("pwru-vmtest %s #%d ", tag, i))
	for len(b) < n {
		b = append(b, byte('a'+len(b)%26))
	}
	return b[:n]
}

// scenarioHarness checks the guest plumbing without the recorder: two
// namespaces, a veth pair, an echo exchange and a UDP datagram.
func scenarioHarness(e *env) error {
	p, err := e.newPair("harness")
	if err != nil {
		return err
	}
	e.step("topology")
	ping, err := newPinger(p.nsA, addrA)
	if err != nil {
		return err
	}
	defer ping.Close()
	for seq := uint16(1); seq <= 2; seq++ {
		pkt, err := ping.echo(addrB, 0x1234, seq, payload("harness", int(seq), 32))
		if err != nil {
			return err
		}
		e.rep.Traffic = append(e.rep.Traffic, pkt)
	}
	rx, tx, err := p.udpPair(5000, 41000)
	if err != nil {
		return err
	}
	defer rx.Close()
	defer tx.Close()
	var sent []report.Packet
	for i := range 3 {
		pkt, err := tx.send(addrB, 5000, payload("harness-udp", i, 64))
		if err != nil {
			return err
		}
		sent = append(sent, pkt)
	}
	markReceived(sent, rx.drain())
	e.rep.Traffic = append(e.rep.Traffic, sent...)
	e.step("traffic")
	_, err = os.Stat("/sys/kernel/btf/vmlinux")
	e.value("vmlinux_btf", boolValue(err == nil))
	_, err = os.Stat("/sys/kernel/tracing/available_filter_functions")
	e.value("tracefs", boolValue(err == nil))
	return nil
}

func boolValue(b bool) uint64 {
	if b {
		return 1
	}
	return 0
}

// scenarioICMP: ping from A to B with filter "icmp and host 10.0.0.2".
func scenarioICMP(e *env) error {
	p, err := e.newPair("icmp")
	if err != nil {
		return err
	}
	e.step("topology")
	return e.pingRecorded(p, "main", "icmp", pingOpts{id: 0x4242, count: 3, size: 56},
		"--kmods", "veth", "--filter-func", netFuncs, "icmp and host "+addrB)
}

// pingOpts says which echo requests pingRecorded sends.
type pingOpts struct {
	id    uint16 // ICMP echo id
	count int    // requests, seq 1..count
	size  int    // payload bytes
}

// pingRecorded starts the recorder run name with args, pings B from A as o
// says (payloads tagged tag), and stops the recorder with SIGINT, recording
// each step.
func (e *env) pingRecorded(p *pair, name, tag string, o pingOpts, args ...string) error {
	rec, err := e.startRecorder(name, args...)
	if err != nil {
		return err
	}
	e.step(stepName(name, "attach"))
	ping, err := newPinger(p.nsA, addrA)
	if err != nil {
		return err
	}
	defer ping.Close()
	for seq := uint16(1); int(seq) <= o.count; seq++ {
		pkt, err := ping.echo(addrB, o.id, seq, payload(tag, int(seq), o.size))
		if err != nil {
			return err
		}
		e.rep.Traffic = append(e.rep.Traffic, pkt)
	}
	e.step(stepName(name, "traffic"))
	if err := rec.stop(syscall.SIGINT); err != nil {
		return err
	}
	e.step(stepName(name, "stop"))
	return nil
}

// stepName names a step of recorder run name ("main" runs are unnamed).
func stepName(name, step string) string {
	if name == "main" {
		return step
	}
	return name + " " + step
}

// udpTraffic sends count datagrams from A:sport to B:dport.
func udpTraffic(e *env, p *pair, tag string, sport, dport uint16, count, size int) ([]report.Packet, error) {
	tx, err := newUDP(p.nsA, addrA, sport)
	if err != nil {
		return nil, err
	}
	defer tx.Close()
	var sent []report.Packet
	for i := range count {
		pkt, err := tx.send(addrB, dport, payload(tag, i, size))
		if err != nil {
			return sent, err
		}
		sent = append(sent, pkt)
	}
	return sent, nil
}

// scenarioDrop: an nftables rule in B drops UDP to port 9999; port 9998
// has a listener and must see no drop.
func scenarioDrop(e *env) error {
	p, err := e.newPair("drop")
	if err != nil {
		return err
	}
	if err := nftDropUDP(p.nsB, 9999); err != nil {
		return err
	}
	rx, err := newUDP(p.nsB, addrB, 9998)
	if err != nil {
		return err
	}
	defer rx.Close()
	e.step("topology")
	rec, err := e.startRecorder("main", "--filter-func", netFuncs, "udp and host "+addrB)
	if err != nil {
		return err
	}
	e.step("attach")
	tx, err := newUDP(p.nsA, addrA, 40001)
	if err != nil {
		return err
	}
	defer tx.Close()
	var ok []report.Packet
	for i := range 4 {
		for _, port := range []uint16{9999, 9998} {
			pkt, err := tx.send(addrB, port, payload("drop-"+strconv.Itoa(int(port)), i, 48))
			if err != nil {
				return err
			}
			if port == 9998 {
				ok = append(ok, pkt)
			} else {
				e.rep.Traffic = append(e.rep.Traffic, pkt)
			}
		}
	}
	markReceived(ok, rx.drain())
	e.rep.Traffic = append(e.rep.Traffic, ok...)
	e.step("traffic")
	if err := rec.stop(syscall.SIGINT); err != nil {
		return err
	}
	e.step("stop")
	return nil
}

// dnatPair makes the netns pair name with an nftables rule in B that
// rewrites UDP port 7777 to 8888, and a socket on B's port 8888 (the
// caller closes it).
func (e *env) dnatPair(name string) (*pair, *udpSocket, error) {
	p, err := e.newPair(name)
	if err != nil {
		return nil, nil, err
	}
	if err := nftDNAT(p.nsB, 7777, addrB, 8888); err != nil {
		return nil, nil, err
	}
	rx, err := newUDP(p.nsB, addrB, 8888)
	if err != nil {
		return nil, nil, err
	}
	return p, rx, nil
}

// scenarioTrack: DNAT in B rewrites UDP port 7777 to 8888; the recorder
// follows the skb with --filter-track-skb although the filter names 7777.
func scenarioTrack(e *env) error {
	p, rx, err := e.dnatPair("track")
	if err != nil {
		return err
	}
	defer rx.Close()
	e.step("topology")
	rec, err := e.startRecorder("main", "--filter-track-skb", "--filter-func", netFuncs, "udp and dst port 7777")
	if err != nil {
		return err
	}
	e.step("attach")
	sent, err := udpTraffic(e, p, "track", 40002, 7777, 3, 40)
	if err != nil {
		return err
	}
	markReceived(sent, rx.drain())
	e.rep.Traffic = append(e.rep.Traffic, sent...)
	e.step("traffic")
	if err := rec.stop(syscall.SIGINT); err != nil {
		return err
	}
	e.step("stop")
	return nil
}

// Sizes in the tc/XDP scenario: the tc program drops datagrams with a
// 333-byte payload (skb->len 361 without, 375 with the Ethernet header).
const (
	tcDropPayload = 333
	tcPassPayload = 100
)

// scenarioTCXDP: an XDP program that passes and a tc program that drops
// by length on B's veth; the recorder traces both.
func scenarioTCXDP(e *env) error {
	p, err := e.newPair("tcxdp")
	if err != nil {
		return err
	}
	tc, err := tcDropLen(20+8+tcDropPayload, 14+20+8+tcDropPayload)
	if err != nil {
		return err
	}
	defer tc.Close()
	if err := attachTC(p.nsB, p.ifB, tc); err != nil {
		return err
	}
	xdp, err := xdpPass()
	if err != nil {
		return err
	}
	defer xdp.Close()
	l, err := attachXDP(p.nsB, p.ifB, xdp)
	if err != nil {
		return err
	}
	defer l.Close()
	// What --output-xdp-metadata must find in the xdp_buff of B's veth.
	h, err := netlink.NewHandleAt(p.nsB, unix.NETLINK_ROUTE)
	if err != nil {
		return fmt.Errorf("netlink in %s: %w", p.nameB, err)
	}
	link, err := h.LinkByIndex(p.ifB)
	h.Close()
	if err != nil {
		return fmt.Errorf("find veth of %s: %w", p.nameB, err)
	}
	e.value("xdp_ifindex", uint64(p.ifB))
	e.value("xdp_mtu", uint64(link.Attrs().MTU))
	e.value("xdp_rx_queues", uint64(link.Attrs().NumRxQueues))
	rx, err := newUDP(p.nsB, addrB, 5556)
	if err != nil {
		return err
	}
	defer rx.Close()
	e.step("topology")
	rec, err := e.startRecorder("main", "--filter-trace-tc", "--filter-trace-xdp", "--filter-func", netFuncs,
		"--output-xdp-metadata", "xdp->rxq->dev->ifindex,xdp->rxq->dev->mtu,xdp->rxq->queue_index", "udp and host "+addrB)
	if err != nil {
		return err
	}
	e.step("attach")
	drop, err := udpTraffic(e, p, "tcdrop", 40003, 5555, 3, tcDropPayload)
	if err != nil {
		return err
	}
	pass, err := udpTraffic(e, p, "tcpass", 40004, 5556, 3, tcPassPayload)
	if err != nil {
		return err
	}
	markReceived(pass, rx.drain())
	e.rep.Traffic = append(append(e.rep.Traffic, drop...), pass...)
	e.step("traffic")
	if err := rec.stop(syscall.SIGINT); err != nil {
		return err
	}
	e.step("stop")
	return nil
}

// scenarioOutput: --output-stack, --output-skb and --output-caller on a
// ping.
func scenarioOutput(e *env) error {
	p, err := e.newPair("output")
	if err != nil {
		return err
	}
	e.step("topology")
	return e.pingRecorded(p, "main", "output", pingOpts{id: 0x5151, count: 2, size: 40},
		"--output-stack", "--output-skb", "--output-caller", "--filter-func", netFuncs, "icmp and host "+addrB)
}

// scenarioDiff records the same UDP traffic twice, the second time with an
// nftables rule dropping it.
func scenarioDiff(e *env) error {
	p, err := e.newPair("diff")
	if err != nil {
		return err
	}
	rx, err := newUDP(p.nsB, addrB, 7000)
	if err != nil {
		return err
	}
	defer rx.Close()
	e.step("topology")
	for _, run := range []string{"good", "bad"} {
		if run == "bad" {
			if err := nftDropUDP(p.nsB, 7000); err != nil {
				return err
			}
		}
		rec, err := e.startRecorder(run, "--filter-func", netFuncs, "udp and host "+addrB)
		if err != nil {
			return err
		}
		e.step(run + " attach")
		sent, err := udpTraffic(e, p, "diff", 40005, 7000, 3, 32)
		if err != nil {
			return err
		}
		markReceived(sent, rx.drain())
		for i := range sent {
			sent[i].Kind = "udp-" + run
		}
		e.rep.Traffic = append(e.rep.Traffic, sent...)
		e.step(run + " traffic")
		if err := rec.stop(syscall.SIGINT); err != nil {
			return err
		}
		e.step(run + " stop")
	}
	return nil
}

// scenarioFaults: SIGKILL mid-capture, a filter that matches nothing, and
// invocations that must fail with one line.
func scenarioFaults(e *env) error {
	p, err := e.newPair("faults")
	if err != nil {
		return err
	}
	e.step("topology")

	// Each part is independent: a failure is recorded in its run (the host
	// test of that part fails) and the next part still runs.
	tx, err := newUDP(p.nsA, addrA, 40006)
	if err != nil {
		return err
	}
	defer tx.Close()

	// Killed: traffic for 3 s (the writer flushes at least every second),
	// then SIGKILL.
	if rec, err := e.startRecorder("killed", "--filter-func", netFuncs, "udp and host "+addrB); err != nil {
		e.logf("killed: %v", err)
	} else {
		e.step("killed attach")
		n := 0
		for t := time.Now(); time.Since(t) < 3*time.Second; n++ {
			if _, err := tx.send(addrB, 6000, payload("killed", n, 32)); err != nil {
				return err
			}
			time.Sleep(50 * time.Millisecond)
		}
		e.value("killed_sent", uint64(n))
		if err := rec.stop(syscall.SIGKILL); err != nil {
			e.logf("killed: %v", err)
		}
		e.step("killed")
	}

	// A filter that matches nothing.
	if rec, err := e.startRecorder("empty", "--filter-func", netFuncs, "host 192.0.2.99"); err != nil {
		e.logf("empty: %v", err)
	} else {
		for i := range 5 {
			if _, err := tx.send(addrB, 6000, payload("empty", i, 32)); err != nil {
				return err
			}
		}
		if err := rec.stop(syscall.SIGINT); err != nil {
			e.logf("empty: %v", err)
		}
		e.step("empty")
	}

	e.runRecorder("badfilter", nil, "-o", "/tmp/badfilter.pwru", "--filter-func", netFuncs, "host and and")
	e.runRecorder("nofunc", nil, "-o", "/tmp/nofunc.pwru", "--filter-func", "^pwru_no_such_function$")
	os.Chmod("/tmp", 0o1777)
	e.runRecorder("nonroot", &syscall.Credential{Uid: 65534, Gid: 65534}, "-o", "/tmp/nonroot.pwru", "--filter-func", netFuncs)
	e.step("bad input")
	return nil
}

// scenarioLoad: all functions traced, an idle period, then a bounded UDP
// flood; the kernel's BPF run counts are recorded for the host to compare
// with the capture's counters.
func scenarioLoad(e *env) error {
	p, err := e.newPair("load")
	if err != nil {
		return err
	}
	rx, err := newUDP(p.nsB, addrB, 6001)
	if err != nil {
		return err
	}
	defer rx.Close()
	if err := sysctl("kernel/bpf_stats_enabled", "1"); err != nil {
		return err
	}
	e.step("topology")
	rec, err := e.startRecorder("main", "--kmods", "veth")
	if err != nil {
		return err
	}
	e.step("attach")
	pid := rec.cmd.Process.Pid

	// Let the recorder settle after attaching (its first flushes), then
	// measure its CPU time while nothing happens.
	time.Sleep(2 * time.Second)
	cpu0, err := cpuTime(pid)
	if err != nil {
		return err
	}
	idle := 4 * time.Second
	time.Sleep(idle)
	cpu1, err := cpuTime(pid)
	if err != nil {
		return err
	}
	e.value("idle_wall_ms", uint64(idle.Milliseconds()))
	e.value("idle_cpu_ms", uint64((cpu1 - cpu0).Milliseconds()))
	e.step("idle")

	tx, err := newUDP(p.nsA, addrA, 40007)
	if err != nil {
		return err
	}
	defer tx.Close()
	n := 0
	for t := time.Now(); time.Since(t) < 3*time.Second && n < 20000; n++ {
		if _, err := tx.send(addrB, 6001, payload("load", n, 64)); err != nil {
			return err
		}
	}
	got := rx.drain()
	e.value("flood_sent", uint64(n))
	e.value("flood_received", uint64(len(got)))
	e.step("flood")
	time.Sleep(time.Second)
	runs, misses, progs, err := recorderProgStats(pid)
	if err != nil {
		return err
	}
	e.value("bpf_run_cnt", runs)
	e.value("bpf_recursion_misses", misses)
	e.value("bpf_programs", uint64(len(progs)))
	e.rep.Log = append(e.rep.Log, progs...)
	e.step("stats")
	if err := rec.stop(syscall.SIGINT); err != nil {
		return err
	}
	e.step("stop")
	return nil
}

// cpuTime is the user+system CPU time of a process.
func cpuTime(pid int) (time.Duration, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, fmt.Errorf("read cpu time: %w", err)
	}
	// Fields after the command name, which is in parentheses.
	i := bytes.LastIndexByte(b, ')')
	f := strings.Fields(string(b[i+1:]))
	if len(f) < 13 {
		return 0, fmt.Errorf("read cpu time: short /proc/%d/stat", pid)
	}
	ut, _ := strconv.ParseUint(f[11], 10, 64)
	st, _ := strconv.ParseUint(f[12], 10, 64)
	return time.Duration(ut+st) * time.Second / 100, nil // USER_HZ
}

// recorderProgStats sums the run counts of the BPF programs whose file
// descriptors the process holds.
func recorderProgStats(pid int) (runs, misses uint64, desc []string, err error) {
	dir := fmt.Sprintf("/proc/%d/fdinfo", pid)
	ents, err := os.ReadDir(dir)
	if err != nil {
		return 0, 0, nil, fmt.Errorf("list recorder fds: %w", err)
	}
	seen := map[uint64]bool{}
	for _, ent := range ents {
		b, err := os.ReadFile(dir + "/" + ent.Name())
		if err != nil {
			continue
		}
		for _, line := range strings.Split(string(b), "\n") {
			v, ok := strings.CutPrefix(line, "prog_id:")
			if !ok {
				continue
			}
			id, err := strconv.ParseUint(strings.TrimSpace(v), 10, 32)
			if err != nil || seen[id] {
				continue
			}
			seen[id] = true
			prog, err := ebpf.NewProgramFromID(ebpf.ProgramID(id))
			if err != nil {
				return 0, 0, nil, fmt.Errorf("open recorder program %d: %w", id, err)
			}
			info, ierr := prog.Info()
			st, serr := prog.Stats()
			prog.Close()
			if ierr != nil || serr != nil {
				return 0, 0, nil, fmt.Errorf("stats of recorder program %d: %v %v", id, ierr, serr)
			}
			runs += st.RunCount
			misses += st.RecursionMisses
			desc = append(desc, fmt.Sprintf("prog %d %s %s run_cnt=%d run_time_ns=%d recursion_misses=%d",
				id, info.Type, info.Name, st.RunCount, st.Runtime.Nanoseconds(), st.RecursionMisses))
		}
	}
	if len(seen) == 0 {
		return 0, 0, nil, fmt.Errorf("recorder pid %d holds no BPF programs", pid)
	}
	return runs, misses, desc, nil
}
