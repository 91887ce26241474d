//go:build linux

package main

import (
	"fmt"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/asm"
	"github.com/cilium/ebpf/btf"
	"github.com/cilium/ebpf/link"
	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"
)

// Names of the guest's own tc and XDP programs, as the capture's probes
// should show them.
const (
	tcProgName  = "vmt_tc_drop"
	xdpProgName = "vmt_xdp_pass"
)

// withBTF gives a program's first instruction BTF function metadata
// "int name(struct ctx *ctx)": tracing a BPF program with fentry (what
// --filter-trace-tc/xdp do) needs the target program's BTF, as clang
// would emit it.
func withBTF(insns asm.Instructions, name, ctx string) asm.Instructions {
	i32 := &btf.Int{Name: "int", Size: 4, Encoding: btf.Signed}
	proto := &btf.FuncProto{Return: i32, Params: []btf.FuncParam{
		{Name: "ctx", Type: &btf.Pointer{Target: &btf.Struct{Name: ctx}}},
	}}
	insns[0] = btf.WithFuncMetadata(insns[0], &btf.Func{Name: name, Type: proto, Linkage: btf.GlobalFunc})
	return insns
}

// tcDropLen returns a cls_bpf (direct action) program that returns
// TC_ACT_SHOT for packets whose __sk_buff->len is one of lens and TC_ACT_OK
// for the rest.
func tcDropLen(lens ...uint32) (*ebpf.Program, error) {
	insns := asm.Instructions{
		asm.LoadMem(asm.R2, asm.R1, 0, asm.Word), // r2 = skb->len
		asm.Mov.Imm(asm.R0, 0),                   // TC_ACT_OK
	}
	for _, l := range lens {
		insns = append(insns, asm.JEq.Imm(asm.R2, int32(l), "drop"))
	}
	insns = append(insns,
		asm.Return(),
		asm.Mov.Imm(asm.R0, 2).WithSymbol("drop"), // TC_ACT_SHOT
		asm.Return(),
	)
	p, err := ebpf.NewProgram(&ebpf.ProgramSpec{Name: tcProgName, Type: ebpf.SchedCLS, License: "GPL",
		Instructions: withBTF(insns, tcProgName, "__sk_buff")})
	if err != nil {
		return nil, fmt.Errorf("load tc program: %w", err)
	}
	return p, nil
}

// xdpPass returns an XDP program that passes every packet.
func xdpPass() (*ebpf.Program, error) {
	p, err := ebpf.NewProgram(&ebpf.ProgramSpec{Name: xdpProgName, Type: ebpf.XDP, License: "GPL",
		Instructions: withBTF(asm.Instructions{asm.Mov.Imm(asm.R0, 2), asm.Return()}, xdpProgName, "xdp_md")}) // XDP_PASS
	if err != nil {
		return nil, fmt.Errorf("load xdp program: %w", err)
	}
	return p, nil
}

// attachTC adds a clsact qdisc to the interface ifindex in ns and a
// direct-action cls_bpf ingress filter running prog.
func attachTC(ns netns.NsHandle, ifindex int, prog *ebpf.Program) error {
	h, err := netlink.NewHandleAt(ns, unix.NETLINK_ROUTE)
	if err != nil {
		return fmt.Errorf("netlink handle: %w", err)
	}
	defer h.Close()
	q := &netlink.GenericQdisc{
		QdiscAttrs: netlink.QdiscAttrs{LinkIndex: ifindex, Handle: netlink.MakeHandle(0xffff, 0), Parent: netlink.HANDLE_CLSACT},
		QdiscType:  "clsact",
	}
	if err := h.QdiscAdd(q); err != nil {
		return fmt.Errorf("add clsact qdisc: %w", err)
	}
	f := &netlink.BpfFilter{
		FilterAttrs: netlink.FilterAttrs{LinkIndex: ifindex, Parent: netlink.HANDLE_MIN_INGRESS, Handle: 1,
			Protocol: unix.ETH_P_ALL, Priority: 1},
		Fd: prog.FD(), Name: tcProgName, DirectAction: true,
	}
	if err := h.FilterAdd(f); err != nil {
		return fmt.Errorf("add cls_bpf filter: %w", err)
	}
	return nil
}

// attachXDP attaches prog to the interface ifindex in ns (native mode).
func attachXDP(ns netns.NsHandle, ifindex int, prog *ebpf.Program) (link.Link, error) {
	var l link.Link
	err := inNetns(ns, func() error {
		var err error
		l, err = link.AttachXDP(link.XDPOptions{Program: prog, Interface: ifindex})
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("attach xdp program: %w", err)
	}
	return l, nil
}
