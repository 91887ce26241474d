//go:build linux

package main

import (
	"errors"
	"fmt"
	"net"
	"syscall"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/asm"
	"github.com/cilium/ebpf/btf"
	"github.com/cilium/ebpf/features"

	"github.com/pwru-record/pwru-record/internal/tracingmulti"
)

// backendFuncs are the functions of the UDP path between the two netns
// (plus the free path, and ip_send_unicast_reply and __udp6_lib_err, which
// 6.1's fentry refuses, so the fallback to kprobes is exercised): each
// backend attaches them all, and fentry without the multi-link verifies one
// program per function, so the list is kept short (about 40 s of a 6.1
// run instead of 4 minutes for the whole of netFuncs).
const backendFuncs = `^(ip_output|ip_finish_output|ip_finish_output2|__dev_queue_xmit|dev_hard_start_xmit|veth_xmit|` +
	`__netif_receive_skb|__netif_receive_skb_one_core|ip_rcv|ip_rcv_core|ip_rcv_finish|ip_route_input_noref|` +
	`ip_local_deliver|ip_local_deliver_finish|ip_protocol_deliver_rcu|udp_rcv|__udp4_lib_rcv|udp_queue_rcv_skb|` +
	`udp_unicast_rcv_skb|__udp_enqueue_schedule_skb|consume_skb|skb_release_head_state|skb_release_data|kfree_skbmem|` +
	`ip_send_unicast_reply|__udp6_lib_err)$`

// backendPort is the destination port of the datagrams recorded with the
// i-th backend of scenarioBackends.
func backendPort(i int) uint16 { return uint16(9200 + i) }

// scenarioBackends records the same traffic (5 datagrams A -> B) with
// every skb backend the kernel has and auto, one recording each, with skb
// tracking and callers: the host test compares what each saw per
// datagram.
func scenarioBackends(e *env) error {
	p, err := e.newPair("backends")
	if err != nil {
		return err
	}
	e.step("topology")
	backends := []string{"fentry", "kprobe"}
	if features.HaveBPFLinkKprobeMulti() == nil {
		backends = append(backends, "kprobe-multi")
	}
	// auto last: the host test checks that it took a kprobe backend, also
	// where the kernel's BTF describes the tracing multi-link.
	backends = append(backends, "auto")
	multi := uint64(0)
	if kernel, err := btf.LoadKernelSpec(); err == nil {
		if _, err := tracingmulti.Probe(kernel); err == nil {
			multi = 1
		} else {
			e.logf("tracing multi-link: %v", err)
		}
	}
	e.value("multi_supported", multi)
	for i, b := range backends {
		port := backendPort(i)
		rx, err := newUDP(p.nsB, addrB, port)
		if err != nil {
			return err
		}
		// A first datagram outside the recording: neighbour and route
		// state settle before the recorded ones.
		if _, err := udpTraffic(e, p, "warmup-"+b, 40100+uint16(i), port, 1, 40); err != nil {
			rx.Close()
			return err
		}
		rx.drain()
		rec, err := e.startRecorder(b, "--backend", b, "--filter-track-skb", "--output-caller", "--kmods", "veth",
			"--filter-func", backendFuncs, fmt.Sprintf("udp and dst port %d", port))
		if err != nil && b == "fentry" {
			// A kernel without fentry attach cookies (5.10) refuses the
			// backend; the host test checks that it said so.
			e.logf("fentry: %v", err)
			rx.Close()
			continue
		}
		if err != nil {
			rx.Close()
			return err
		}
		e.step(stepName(b, "attach"))
		sent, err := udpTraffic(e, p, b, 40200+uint16(i), port, 5, 60)
		if err != nil {
			rx.Close()
			return err
		}
		markReceived(sent, rx.drain())
		rx.Close()
		e.rep.Traffic = append(e.rep.Traffic, sent...)
		e.step(stepName(b, "traffic"))
		if err := rec.stop(syscall.SIGINT); err != nil {
			return err
		}
		e.step(stepName(b, "stop"))
	}
	return nil
}

// scenarioTracingMulti checks internal/tracingmulti against the running
// kernel: where the kernel's BTF describes the multi-link, one link of a
// program counting its attach cookies goes on udp_sendmsg (cookie 1) and
// kfree_skbmem (cookie 2), and a datagram on lo must run both; elsewhere
// Probe must say the kernel has none.
func scenarioTracingMulti(e *env) error {
	kernel, err := btf.LoadKernelSpec()
	if err != nil {
		return err
	}
	lay, err := tracingmulti.Probe(kernel)
	if errors.Is(err, tracingmulti.ErrNotSupported) {
		e.logf("probe: %v", err)
		e.value("multi_supported", 0)
		return nil
	}
	if err != nil {
		return err
	}
	e.value("multi_supported", 1)
	counts, err := ebpf.NewMap(&ebpf.MapSpec{Type: ebpf.Array, KeySize: 4, ValueSize: 8, MaxEntries: 4})
	if err != nil {
		return err
	}
	defer counts.Close()
	prog, err := ebpf.NewProgram(&ebpf.ProgramSpec{
		Type:       ebpf.Tracing,
		AttachType: lay.FentryMulti,
		License:    "GPL",
		Instructions: asm.Instructions{
			asm.FnGetAttachCookie.Call(),
			asm.StoreMem(asm.RFP, -4, asm.R0, asm.Word),
			asm.LoadMapPtr(asm.R1, counts.FD()),
			asm.Mov.Reg(asm.R2, asm.RFP),
			asm.Add.Imm(asm.R2, -4),
			asm.FnMapLookupElem.Call(),
			asm.JEq.Imm(asm.R0, 0, "out"),
			asm.Mov.Imm(asm.R1, 1),
			asm.StoreXAdd(asm.R0, asm.R1, asm.DWord),
			asm.Mov.Imm(asm.R0, 0).WithSymbol("out"),
			asm.Return(),
		},
	})
	if err != nil {
		return fmt.Errorf("load fentry multi program: %w", err)
	}
	defer prog.Close()
	var targets []tracingmulti.Target
	for i, name := range []string{"udp_sendmsg", "kfree_skbmem"} {
		var fn *btf.Func
		if err := kernel.TypeByName(name, &fn); err != nil {
			return err
		}
		id, err := kernel.TypeID(fn)
		if err != nil {
			return err
		}
		targets = append(targets, tracingmulti.Target{ID: id, Cookie: uint64(i + 1)})
	}
	l, err := lay.Attach(prog, lay.FentryMulti, targets)
	if err != nil {
		return err
	}
	c, err := net.Dial("udp", "127.0.0.1:9")
	if err != nil {
		l.Close()
		return err
	}
	for range 3 {
		c.Write([]byte("tracingmulti"))
	}
	c.Close()
	if err := l.Close(); err != nil {
		return err
	}
	for k := uint32(1); k <= 2; k++ {
		var v uint64
		if err := counts.Lookup(k, &v); err != nil {
			return err
		}
		e.value(fmt.Sprintf("cookie_%d", k), v)
	}
	return nil
}
