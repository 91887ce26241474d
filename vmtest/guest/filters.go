//go:build linux

package main

import (
	"encoding/binary"
	"fmt"
	"syscall"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/asm"
	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"

	"github.com/pwru-record/pwru-record/vmtest/report"
)

// Datagrams of the filter scenarios: payload sizes, ports and the
// --filter-skb-expr length bound between the two sizes (a small datagram's
// skb is at most 14+20+8+100 bytes long, a big one's at least 1000).
const (
	exprSmall     = 100
	exprBig       = 1000
	exprLenBound  = 600
	exprPort      = 5600 // B's receiver
	exprPortA     = 5601 // A's receiver (traffic B -> A)
	exprSportSm   = 40011
	exprSportBig  = 40012
	exprSportXDPA = 40014 // A -> B in the xdp run
	exprSportXDPB = 40015 // B -> A in the xdp run

	nonSKBPort  = 5610
	nonSKBSport = 40016
	// nonSKBOther, nonSKBOtherSport: the untracked datagrams of the nonskb
	// scenario, which take the same path into B as the tracked ones.
	nonSKBOther      = 5611
	nonSKBOtherSport = 40019
	// nonSKBFunc runs for every received datagram (the input route lookup
	// under ip_route_input_noref) and has no skb argument, in 6.1 and 6.12.
	nonSKBFunc = "fib_table_lookup"

	helperPort    = 5620
	helperSport   = 40017
	tcHelperName  = "vmt_tc_ldbytes"
	helperCalled  = "bpf_skb_load_bytes"
	filterDatagrm = 3 // datagrams per kind and run
)

// sendKind sends n datagrams of size bytes from the socket to dst:dport,
// tagged kind in the report.
func sendKind(tx *udpSocket, dst string, dport uint16, kind string, n, size int) ([]report.Packet, error) {
	var out []report.Packet
	for i := range n {
		pkt, err := tx.send(dst, dport, payload(kind, i, size))
		if err != nil {
			return out, err
		}
		pkt.Kind = kind
		out = append(out, pkt)
	}
	return out, nil
}

// exchange sends n datagrams of size bytes for each (socket, kind) to the
// receiver rx, marks what rx got and adds them to the report.
func (e *env) exchange(rx *udpSocket, n, size int, senders map[string]*udpSocket) error {
	var sent []report.Packet
	for kind, tx := range senders {
		s, err := sendKind(tx, rx.addr, rx.port, kind, n, size)
		if err != nil {
			return err
		}
		sent = append(sent, s...)
	}
	markReceived(sent, rx.drain())
	e.rep.Traffic = append(e.rep.Traffic, sent...)
	return nil
}

// scenarioSKBExpr: --filter-skb-expr on the length (small and big
// datagrams) and on fields behind pointers (the receiving device and its
// netns), and --filter-xdp-expr with an XDP program on both veths.
func scenarioSKBExpr(e *env) error {
	p, err := e.newPair("skbexpr")
	if err != nil {
		return err
	}
	rx, rxA, err := p.udpPair(exprPort, exprPortA)
	if err != nil {
		return err
	}
	defer rx.Close()
	defer rxA.Close()
	socks := map[uint16]*udpSocket{}
	for _, src := range []struct {
		ns   netns.NsHandle
		addr string
		port uint16
	}{
		{p.nsA, addrA, exprSportSm}, {p.nsA, addrA, exprSportBig},
		{p.nsA, addrA, exprSportXDPA}, {p.nsB, addrB, exprSportXDPB},
	} {
		s, err := newUDP(src.ns, src.addr, src.port)
		if err != nil {
			return err
		}
		defer s.Close()
		socks[src.port] = s
	}
	inoB := e.rep.Netns[p.nameB]
	e.step("topology")

	// The length and, through two and three pointers, the device's
	// ifindex and netns inode (the veths may have the same ifindex in
	// their namespaces): only the big datagrams' skbs on B's veth pass.
	expr := fmt.Sprintf("skb->len > %d && skb->dev->ifindex == %d && skb->dev->nd_net.net->ns.inum == %d", exprLenBound, p.ifB, inoB)
	e.logf("skb expression: %s", expr)
	rec, err := e.startRecorder("skb", "--filter-func", netFuncs, "--filter-skb-expr", expr)
	if err != nil {
		return err
	}
	e.step("skb attach")
	if err := e.exchange(rx, filterDatagrm, exprSmall, map[string]*udpSocket{"udp-small": socks[exprSportSm]}); err != nil {
		return err
	}
	if err := e.exchange(rx, filterDatagrm, exprBig, map[string]*udpSocket{"udp-big": socks[exprSportBig]}); err != nil {
		return err
	}
	e.step("skb traffic")
	if err := rec.stop(syscall.SIGINT); err != nil {
		return err
	}
	e.step("skb stop")

	// XDP: the same program on both veths; the expression keeps B's.
	xdp, err := xdpPass()
	if err != nil {
		return err
	}
	defer xdp.Close()
	for _, side := range []struct {
		ns  netns.NsHandle
		idx int
	}{{p.nsA, p.ifA}, {p.nsB, p.ifB}} {
		l, err := attachXDP(side.ns, side.idx, xdp)
		if err != nil {
			return err
		}
		defer l.Close()
	}
	xdpExpr := fmt.Sprintf("xdp->rxq->dev->nd_net.net->ns.inum == %d", inoB)
	if rec, err = e.startRecorder("xdp", "--filter-trace-xdp", "--filter-xdp-expr", xdpExpr, "--filter-func", "^udp_rcv$", "udp"); err != nil {
		return err
	}
	e.step("xdp attach")
	if err := e.exchange(rx, filterDatagrm, exprSmall, map[string]*udpSocket{"udp-xdp-ab": socks[exprSportXDPA]}); err != nil {
		return err
	}
	if err := e.exchange(rxA, filterDatagrm, exprSmall, map[string]*udpSocket{"udp-xdp-ba": socks[exprSportXDPB]}); err != nil {
		return err
	}
	e.step("xdp traffic")
	if err := rec.stop(syscall.SIGINT); err != nil {
		return err
	}
	e.step("xdp stop")
	return nil
}

// scenarioNonSKB: --filter-non-skb-funcs with a function of the input
// route lookup, which runs under ip_route_input_noref for every received
// datagram, with the stacks of all events. Each tracked datagram (kind udp, sendto(2) to nonSKBPort) is
// followed by an untracked one (kind udp-other, write(2) to nonSKBOther)
// that runs through the same call chains from the socket layer on: its
// route lookup must not be attributed to the tracked datagram before it.
// The other syscall keeps its skb's stacks apart from the tracked ones'
// (--filter-non-skb-funcs implies --filter-track-skb-by-stackid, which
// would track an skb whose whole stack is a tracked one's), and so does
// reading them only after the recording.
func scenarioNonSKB(e *env) error {
	p, err := e.newPair("nonskb")
	if err != nil {
		return err
	}
	rx, err := newUDP(p.nsB, addrB, nonSKBPort)
	if err != nil {
		return err
	}
	defer rx.Close()
	rxOther, tx, err := p.udpPair(nonSKBOther, nonSKBSport)
	if err != nil {
		return err
	}
	defer rxOther.Close()
	defer tx.Close()
	txOther, err := newUDP(p.nsA, addrA, nonSKBOtherSport)
	if err != nil {
		return err
	}
	defer txOther.Close()
	if err := unix.Connect(txOther.fd, &unix.SockaddrInet4{Addr: ip4(addrB), Port: nonSKBOther}); err != nil {
		return fmt.Errorf("connect udp to %s:%d: %w", addrB, nonSKBOther, err)
	}
	e.step("topology")
	rec, err := e.startRecorder("main", "--filter-non-skb-funcs", "^"+nonSKBFunc+"$",
		"--output-stack", "--output-caller", "--filter-func", netFuncs, fmt.Sprintf("udp and dst port %d", nonSKBPort))
	if err != nil {
		return err
	}
	e.step("attach")
	// The untracked datagrams wait in their socket until the recorder
	// has stopped: their skbs are freed by the same recvfrom(2) path as
	// the tracked ones', which stack-id tracking would take for theirs.
	var others []report.Packet
	for i := range filterDatagrm {
		pkt, err := tx.send(rx.addr, rx.port, payload("udp", i, 64))
		if err != nil {
			return err
		}
		sent := []report.Packet{pkt}
		markReceived(sent, rx.drain())
		e.rep.Traffic = append(e.rep.Traffic, sent...)
		pkt, err = txOther.write(rxOther.addr, rxOther.port, payload("udp-other", i, 64))
		if err != nil {
			return err
		}
		pkt.Kind = "udp-other"
		others = append(others, pkt)
	}
	e.step("traffic")
	if err := rec.stop(syscall.SIGINT); err != nil {
		return err
	}
	markReceived(others, rxOther.drain())
	e.rep.Traffic = append(e.rep.Traffic, others...)
	e.step("stop")
	return nil
}

// write sends payload with write(2) on u, connected to dst:dport, and
// describes the datagram.
func (u *udpSocket) write(dst string, dport uint16, payload []byte) (report.Packet, error) {
	hdr := make([]byte, 8)
	binary.BigEndian.PutUint16(hdr[0:], u.port)
	binary.BigEndian.PutUint16(hdr[2:], dport)
	binary.BigEndian.PutUint16(hdr[4:], uint16(8+len(payload)))
	pkt := report.Packet{Kind: "udp", Src: u.addr, Dst: dst, Proto: unix.IPPROTO_UDP, Sport: u.port, Dport: dport,
		L4: append(hdr, payload...), Payload: payload}
	if _, err := unix.Write(u.fd, payload); err != nil {
		return pkt, fmt.Errorf("write udp to %s:%d: %w", dst, dport, err)
	}
	return pkt, nil
}

// scenarioStackID: --filter-track-skb-by-stackid (what
// --filter-non-skb-funcs implies) without non-skb functions, for datagrams
// that all take the same path.
func scenarioStackID(e *env) error {
	return e.udpRecorded("stackid", "--filter-track-skb-by-stackid")
}

// udpRecorded records filterDatagrm datagrams A -> B with the tracking
// flags in args, netFuncs and a filter on the destination port.
func (e *env) udpRecorded(prefix string, args ...string) error {
	p, err := e.newPair(prefix)
	if err != nil {
		return err
	}
	rx, tx, err := p.udpPair(nonSKBPort, nonSKBSport)
	if err != nil {
		return err
	}
	defer rx.Close()
	defer tx.Close()
	e.step("topology")
	rec, err := e.startRecorder("main", append(args, "--filter-func", netFuncs, fmt.Sprintf("udp and dst port %d", nonSKBPort))...)
	if err != nil {
		return err
	}
	e.step("attach")
	if err := e.exchange(rx, filterDatagrm, 64, map[string]*udpSocket{"udp": tx}); err != nil {
		return err
	}
	e.step("traffic")
	if err := rec.stop(syscall.SIGINT); err != nil {
		return err
	}
	e.step("stop")
	return nil
}

// tcLoadBytes returns a cls_bpf (direct action) program that reads the
// first 4 bytes of the packet with bpf_skb_load_bytes and returns
// TC_ACT_OK.
func tcLoadBytes() (*ebpf.Program, error) {
	insns := asm.Instructions{
		asm.Mov.Imm(asm.R2, 0),       // offset
		asm.Mov.Reg(asm.R3, asm.RFP), // to = fp - 8
		asm.Add.Imm(asm.R3, -8),
		asm.Mov.Imm(asm.R4, 4), // len
		asm.FnSkbLoadBytes.Call(),
		asm.Mov.Imm(asm.R0, 0), // TC_ACT_OK
		asm.Return(),
	}
	prog, err := ebpf.NewProgram(&ebpf.ProgramSpec{Name: tcHelperName, Type: ebpf.SchedCLS, License: "GPL",
		Instructions: withBTF(insns, tcHelperName, "__sk_buff")})
	if err != nil {
		return nil, fmt.Errorf("load tc program: %w", err)
	}
	return prog, nil
}

// scenarioHelpers: --filter-track-bpf-helpers with a tc program on B's
// veth that calls bpf_skb_load_bytes for every packet.
func scenarioHelpers(e *env) error {
	p, err := e.newPair("helpers")
	if err != nil {
		return err
	}
	tc, err := tcLoadBytes()
	if err != nil {
		return err
	}
	defer tc.Close()
	if err := attachTC(p.nsB, p.ifB, tc); err != nil {
		return err
	}
	rx, tx, err := p.udpPair(helperPort, helperSport)
	if err != nil {
		return err
	}
	defer rx.Close()
	defer tx.Close()
	e.step("topology")
	rec, err := e.startRecorder("main", "--filter-trace-tc", "--filter-track-bpf-helpers",
		"--filter-func", "^(ip_rcv|udp_rcv)$", fmt.Sprintf("udp and dst port %d", helperPort))
	if err != nil {
		return err
	}
	e.step("attach")
	if err := e.exchange(rx, filterDatagrm, 64, map[string]*udpSocket{"udp": tx}); err != nil {
		return err
	}
	e.step("traffic")
	if err := rec.stop(syscall.SIGINT); err != nil {
		return err
	}
	e.step("stop")
	return nil
}
