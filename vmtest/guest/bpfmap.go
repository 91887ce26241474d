//go:build linux

package main

import (
	"encoding/binary"
	"errors"
	"fmt"
	"syscall"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/asm"
)

// The --output-bpfmap scenario: a tc program counts UDP datagrams per
// destination port in a hash map (lookup, then update with count+1) and
// deletes a port's entry when its count reaches bpfmapDeleteAt; an XDP
// program counts the UDP datagrams in an array map (its lookup is inlined
// by the verifier, its update is a call).
const (
	bpfmapProgName    = "vmt_tc_count"
	bpfmapMapName     = "vmt_ports"
	bpfmapXDPProgName = "vmt_xdp_count"
	bpfmapXDPMapName  = "vmt_xdp_udp"
	bpfmapDeleteAt    = 3
	bpfmapSport       = 40005
	bpfmapPortA       = 6001 // gets bpfmapDeleteAt datagrams: lookups, updates and a delete
	bpfmapPortB       = 6002 // gets 2 datagrams
)

// bpfmapCounter returns a hash map (key: destination port as a host-order
// u32, value: u64 count) and a cls_bpf program maintaining it.
func bpfmapCounter() (*ebpf.Map, *ebpf.Program, error) {
	m, err := ebpf.NewMap(&ebpf.MapSpec{Name: bpfmapMapName, Type: ebpf.Hash, KeySize: 4, ValueSize: 8, MaxEntries: 16})
	if err != nil {
		return nil, nil, fmt.Errorf("create map: %w", err)
	}
	const (
		keyOff   = -4  // u32 port
		valueOff = -16 // u64 count
		tmpOff   = -24 // bytes loaded from the packet
	)
	loadBytes := func(off, n int32) asm.Instructions {
		return asm.Instructions{
			asm.Mov.Reg(asm.R1, asm.R6),
			asm.Mov.Imm(asm.R2, off),
			asm.Mov.Reg(asm.R3, asm.RFP),
			asm.Add.Imm(asm.R3, tmpOff),
			asm.Mov.Imm(asm.R4, n),
			asm.FnSkbLoadBytes.Call(),
			asm.JNE.Imm(asm.R0, 0, "out"),
		}
	}
	insns := asm.Instructions{
		asm.Mov.Reg(asm.R6, asm.R1),
		asm.Mov.Imm(asm.R2, 0),
		asm.StoreMem(asm.RFP, tmpOff, asm.R2, asm.DWord),
		// IPv4 (__sk_buff->protocol is in network byte order) ...
		asm.LoadMem(asm.R2, asm.R1, 16, asm.Word),
		asm.JNE.Imm(asm.R2, 0x0008, "out"),
	}
	insns = append(insns, loadBytes(14+9, 1)...) // ... UDP ...
	insns = append(insns,
		asm.LoadMem(asm.R2, asm.RFP, tmpOff, asm.Byte),
		asm.JNE.Imm(asm.R2, 17, "out"),
	)
	insns = append(insns, loadBytes(14+20+2, 2)...) // ... destination port (no IP options)
	insns = append(insns,
		asm.LoadMem(asm.R2, asm.RFP, tmpOff, asm.Half),
		asm.HostTo(asm.BE, asm.R2, asm.Half),
		asm.StoreMem(asm.RFP, keyOff, asm.R2, asm.Word),
		// count = lookup(port) ? *value + 1 : 1
		asm.LoadMapPtr(asm.R1, m.FD()),
		asm.Mov.Reg(asm.R2, asm.RFP),
		asm.Add.Imm(asm.R2, keyOff),
		asm.FnMapLookupElem.Call(),
		asm.Mov.Imm(asm.R1, 1),
		asm.JEq.Imm(asm.R0, 0, "store"),
		asm.LoadMem(asm.R1, asm.R0, 0, asm.DWord),
		asm.Add.Imm(asm.R1, 1),
		asm.StoreMem(asm.RFP, valueOff, asm.R1, asm.DWord).WithSymbol("store"),
		asm.Mov.Reg(asm.R7, asm.R1),
		// update(port, count, BPF_ANY)
		asm.LoadMapPtr(asm.R1, m.FD()),
		asm.Mov.Reg(asm.R2, asm.RFP),
		asm.Add.Imm(asm.R2, keyOff),
		asm.Mov.Reg(asm.R3, asm.RFP),
		asm.Add.Imm(asm.R3, valueOff),
		asm.Mov.Imm(asm.R4, 0),
		asm.FnMapUpdateElem.Call(),
		// delete(port) when count == bpfmapDeleteAt
		asm.JNE.Imm(asm.R7, bpfmapDeleteAt, "out"),
		asm.LoadMapPtr(asm.R1, m.FD()),
		asm.Mov.Reg(asm.R2, asm.RFP),
		asm.Add.Imm(asm.R2, keyOff),
		asm.FnMapDeleteElem.Call(),
		asm.Mov.Imm(asm.R0, 0).WithSymbol("out"), // TC_ACT_OK
		asm.Return(),
	)
	p, err := ebpf.NewProgram(&ebpf.ProgramSpec{Name: bpfmapProgName, Type: ebpf.SchedCLS, License: "GPL",
		Instructions: withBTF(insns, bpfmapProgName, "__sk_buff")})
	if err != nil {
		m.Close()
		return nil, nil, fmt.Errorf("load tc program: %w", err)
	}
	return m, p, nil
}

// bpfmapXDPCounter returns an array map of one u64 and an XDP program
// counting IPv4 UDP frames in it (passing every frame).
func bpfmapXDPCounter() (*ebpf.Map, *ebpf.Program, error) {
	m, err := ebpf.NewMap(&ebpf.MapSpec{Name: bpfmapXDPMapName, Type: ebpf.Array, KeySize: 4, ValueSize: 8, MaxEntries: 1})
	if err != nil {
		return nil, nil, fmt.Errorf("create map: %w", err)
	}
	const (
		keyOff   = -4
		valueOff = -16
	)
	insns := asm.Instructions{
		asm.LoadMem(asm.R2, asm.R1, 0, asm.Word), // xdp_md->data
		asm.LoadMem(asm.R3, asm.R1, 4, asm.Word), // xdp_md->data_end
		asm.Mov.Reg(asm.R4, asm.R2),
		asm.Add.Imm(asm.R4, 14+20),
		asm.JGT.Reg(asm.R4, asm.R3, "out"),
		asm.LoadMem(asm.R4, asm.R2, 12, asm.Half), // EtherType, network order
		asm.JNE.Imm(asm.R4, 0x0008, "out"),
		asm.LoadMem(asm.R4, asm.R2, 14+9, asm.Byte), // IP protocol
		asm.JNE.Imm(asm.R4, 17, "out"),
		asm.Mov.Imm(asm.R1, 0),
		asm.StoreMem(asm.RFP, keyOff, asm.R1, asm.Word),
		asm.LoadMapPtr(asm.R1, m.FD()),
		asm.Mov.Reg(asm.R2, asm.RFP),
		asm.Add.Imm(asm.R2, keyOff),
		asm.FnMapLookupElem.Call(),
		asm.JEq.Imm(asm.R0, 0, "out"),
		asm.LoadMem(asm.R1, asm.R0, 0, asm.DWord),
		asm.Add.Imm(asm.R1, 1),
		asm.StoreMem(asm.RFP, valueOff, asm.R1, asm.DWord),
		asm.LoadMapPtr(asm.R1, m.FD()),
		asm.Mov.Reg(asm.R2, asm.RFP),
		asm.Add.Imm(asm.R2, keyOff),
		asm.Mov.Reg(asm.R3, asm.RFP),
		asm.Add.Imm(asm.R3, valueOff),
		asm.Mov.Imm(asm.R4, 0),
		asm.FnMapUpdateElem.Call(),
		asm.Mov.Imm(asm.R0, 2).WithSymbol("out"), // XDP_PASS
		asm.Return(),
	}
	p, err := ebpf.NewProgram(&ebpf.ProgramSpec{Name: bpfmapXDPProgName, Type: ebpf.XDP, License: "GPL",
		Instructions: withBTF(insns, bpfmapXDPProgName, "xdp_md")})
	if err != nil {
		m.Close()
		return nil, nil, fmt.Errorf("load xdp program: %w", err)
	}
	return m, p, nil
}

// mapID returns the kernel's id of m.
func mapID(m *ebpf.Map) (ebpf.MapID, error) {
	info, err := m.Info()
	if err != nil {
		return 0, fmt.Errorf("map info: %w", err)
	}
	id, ok := info.ID()
	if !ok {
		return 0, errors.New("map info: the kernel reports no map id")
	}
	return id, nil
}

// scenarioBPFMap: the counting tc program on B's veth ingress, recorded
// and the XDP program counting UDP, recorded with --filter-trace-tc
// --filter-trace-xdp --output-bpfmap.
func scenarioBPFMap(e *env) error {
	p, err := e.newPair("bpfmap")
	if err != nil {
		return err
	}
	m, prog, err := bpfmapCounter()
	if err != nil {
		return err
	}
	defer m.Close()
	defer prog.Close()
	id, err := mapID(m)
	if err != nil {
		return err
	}
	e.value("map_id", uint64(id))
	if err := attachTC(p.nsB, p.ifB, prog); err != nil {
		return err
	}
	xm, xprog, err := bpfmapXDPCounter()
	if err != nil {
		return err
	}
	defer xm.Close()
	defer xprog.Close()
	xid, err := mapID(xm)
	if err != nil {
		return err
	}
	e.value("xdp_map_id", uint64(xid))
	l, err := attachXDP(p.nsB, p.ifB, xprog)
	if err != nil {
		return err
	}
	defer l.Close()
	var rxs []*udpSocket
	for _, port := range []uint16{bpfmapPortA, bpfmapPortB} {
		rx, err := newUDP(p.nsB, addrB, port)
		if err != nil {
			return err
		}
		defer rx.Close()
		rxs = append(rxs, rx)
	}
	e.step("topology")
	rec, err := e.startRecorder("main", "--filter-trace-tc", "--filter-trace-xdp", "--output-bpfmap", "--filter-func", netFuncs, "udp and host "+addrB)
	if err != nil {
		return err
	}
	e.step("attach")
	for i, n := range []int{bpfmapDeleteAt, 2} {
		port := []uint16{bpfmapPortA, bpfmapPortB}[i]
		sent, err := udpTraffic(e, p, "bpfmap", bpfmapSport, port, n, 64)
		if err != nil {
			return err
		}
		markReceived(sent, rxs[i].drain())
		e.rep.Traffic = append(e.rep.Traffic, sent...)
	}
	e.step("traffic")
	if err := rec.stop(syscall.SIGINT); err != nil {
		return err
	}
	e.step("stop")
	// What the map holds now, for the host to compare with the capture.
	for _, port := range []uint32{bpfmapPortA, bpfmapPortB} {
		var v uint64
		err := m.Lookup(port, &v)
		switch {
		case errors.Is(err, ebpf.ErrKeyNotExist):
			e.value(fmt.Sprintf("count_%d", port), 0)
		case err != nil:
			return fmt.Errorf("look up port %d: %w", port, err)
		default:
			e.value(fmt.Sprintf("count_%d", port), v)
		}
	}
	var udp uint64
	if err := xm.Lookup(uint32(0), &udp); err != nil {
		return fmt.Errorf("look up the xdp counter: %w", err)
	}
	e.value("xdp_udp", udp)
	var key [4]byte
	binary.NativeEndian.PutUint32(key[:], bpfmapPortA)
	e.logf("map %s id %d, key of port %d: %x", bpfmapMapName, id, bpfmapPortA, key)
	return nil
}
