//go:build linux

package main

import (
	"fmt"

	"github.com/google/nftables"
	"github.com/google/nftables/binaryutil"
	"github.com/google/nftables/expr"
	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"
)

// udpDportMatch is the expression list "meta l4proto udp udp dport <port>".
func udpDportMatch(port uint16) []expr.Any {
	return []expr.Any{
		&expr.Meta{Key: expr.MetaKeyL4PROTO, Register: 1},
		&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: []byte{unix.IPPROTO_UDP}},
		&expr.Payload{DestRegister: 1, Base: expr.PayloadBaseTransportHeader, Offset: 2, Len: 2},
		&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: binaryutil.BigEndian.PutUint16(port)},
	}
}

// l4protoMatch is the expression list "meta l4proto <proto>".
func l4protoMatch(proto byte) []expr.Any {
	return []expr.Any{
		&expr.Meta{Key: expr.MetaKeyL4PROTO, Register: 1},
		&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: []byte{proto}},
	}
}

// nftDropUDP installs, in ns, "table ip pwru { chain input { type filter
// hook input priority 0; udp dport <port> drop } }".
func nftDropUDP(ns netns.NsHandle, port uint16) error {
	return nftDrop(ns, udpDportMatch(port), fmt.Sprintf("udp port %d", port))
}

// nftDropICMP installs, in ns, "table ip pwru { chain input { type filter
// hook input priority 0; meta l4proto icmp drop } }".
func nftDropICMP(ns netns.NsHandle) error {
	return nftDrop(ns, l4protoMatch(unix.IPPROTO_ICMP), "icmp")
}

// nftDrop installs, in ns, an input filter chain dropping what match
// matches; what names it in errors.
func nftDrop(ns netns.NsHandle, match []expr.Any, what string) error {
	c, err := nftables.New(nftables.WithNetNSFd(int(ns)))
	if err != nil {
		return fmt.Errorf("nftables: %w", err)
	}
	t := c.AddTable(&nftables.Table{Family: nftables.TableFamilyIPv4, Name: "pwru"})
	ch := c.AddChain(&nftables.Chain{Name: "input", Table: t, Type: nftables.ChainTypeFilter,
		Hooknum: nftables.ChainHookInput, Priority: nftables.ChainPriorityFilter})
	c.AddRule(&nftables.Rule{Table: t, Chain: ch,
		Exprs: append(match, &expr.Verdict{Kind: expr.VerdictDrop})})
	if err := c.Flush(); err != nil {
		return fmt.Errorf("add nftables drop rule for %s: %w", what, err)
	}
	return nil
}

// nftDNAT installs, in ns, "table ip pwrunat { chain pre { type nat hook
// prerouting priority -100; udp dport <from> dnat to <addr>:<to> } }".
func nftDNAT(ns netns.NsHandle, from uint16, addr string, to uint16) error {
	c, err := nftables.New(nftables.WithNetNSFd(int(ns)))
	if err != nil {
		return fmt.Errorf("nftables: %w", err)
	}
	t := c.AddTable(&nftables.Table{Family: nftables.TableFamilyIPv4, Name: "pwrunat"})
	ch := c.AddChain(&nftables.Chain{Name: "pre", Table: t, Type: nftables.ChainTypeNAT,
		Hooknum: nftables.ChainHookPrerouting, Priority: nftables.ChainPriorityNATDest})
	a := ip4(addr)
	exprs := append(udpDportMatch(from),
		&expr.Immediate{Register: 1, Data: a[:]},
		&expr.Immediate{Register: 2, Data: binaryutil.BigEndian.PutUint16(to)},
		&expr.NAT{Type: expr.NATTypeDestNAT, Family: unix.NFPROTO_IPV4, RegAddrMin: 1, RegProtoMin: 2, Specified: true},
	)
	c.AddRule(&nftables.Rule{Table: t, Chain: ch, Exprs: exprs})
	if err := c.Flush(); err != nil {
		return fmt.Errorf("add nftables dnat rule udp %d -> %s:%d: %w", from, addr, to, err)
	}
	return nil
}
