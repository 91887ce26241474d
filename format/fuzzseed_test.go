package format_test

import (
	"bytes"
	"net/netip"
	"testing"

	"github.com/cilium/ebpf/btf"

	"github.com/pwru-record/pwru-record/format"
)

// tinyBTF is the smallest BTF that loads: one int. The reader hands raw
// BTF back as bytes (RawBTF) and parses it only on request, so a seed does
// not need the fake kernel's types.
func tinyBTF(tb testing.TB, name string) []byte {
	tb.Helper()
	b, err := btf.NewBuilder([]btf.Type{&btf.Int{Name: name, Size: 4}}, nil)
	if err != nil {
		tb.Fatal(err)
	}
	raw, err := b.Marshal(nil, nil)
	if err != nil {
		tb.Fatal(err)
	}
	return raw
}

// fuzzSeed writes a capture of a few hundred bytes that still has every
// section type (header with the 1.1 fields, vmlinux and module BTF,
// kallsyms, probes, interfaces, stacks, packets, blobs, two events chunks
// of which one is compressed, losses, trailer) and every event column, so
// that FuzzReader starts from all of the decoder at a small cost per
// input (the fuzzer's time goes to minimising interesting inputs, which
// grows with their size).
func fuzzSeed(tb testing.TB) []byte {
	tb.Helper()
	var buf bytes.Buffer
	h := &format.Header{
		WriterVersion: "fuzz", Hostname: "h", Uname: format.Uname{Machine: "x86_64"},
		Options: map[string]string{"kmods": "veth"}, PcapFilter: "udp", Snaplen: 64,
		KernelLacks: []string{format.LackDropReason}, ByteOrder: format.LittleEndian,
		SKBMetadata: []string{"skb->hash"}, XDPMetadata: []string{"xdp->rxq->queue_index"},
	}
	w, err := format.NewWriter(&buf, h, &format.WriterOptions{ChunkEvents: 8, FlushInterval: -1})
	if err != nil {
		tb.Fatal(err)
	}
	must := func(err error) {
		tb.Helper()
		if err != nil {
			tb.Fatal(err)
		}
	}
	id := func(id uint32, err error) uint32 {
		tb.Helper()
		must(err)
		return id
	}
	const text = 0xffffffff81000000
	must(w.AddBTF("", tinyBTF(tb, "int")))
	must(w.AddBTF("veth", tinyBTF(tb, "veth_int")))
	must(w.AddKallsyms([]format.Symbol{
		{Addr: text, Type: 'T', Name: "ip_rcv"},
		{Addr: text + 0x100, Type: 't', Name: "veth_xmit", Module: "veth"},
	}))
	must(w.AddProbes([]format.Probe{
		{ID: 1, Name: "ip_rcv", Addr: text, Kind: format.ProbeKprobeMulti, SKBArg: 1},
		{ID: 2, Name: "veth_xmit", Module: "veth", Addr: text + 0x100, Kind: format.ProbeFentry, SKBArg: 1},
	}))
	must(w.AddInterfaces([]format.Interface{{Netns: 1, Ifindex: 2, Name: "eth0", MAC: []byte{2, 0, 0, 0, 0, 1}, MTU: 1500, Kind: "veth"}},
		[]format.Netns{{Inode: 1, Name: "ns"}}))
	stack := id(w.AddStack([]uint64{text + 4, text + 0x104}))
	pkt := id(w.AddPacket(&format.Packet{Time: 10, Netns: 1, Ifindex: 2, OrigLen: 60, Data: make([]byte, 42)}))
	l3 := id(w.AddPacket(&format.Packet{Time: 11, Netns: 1, Ifindex: 2, OrigLen: 20, L3: true, Data: []byte{0x45, 0, 0, 20}}))
	meta := id(w.AddBlob(format.BlobMeta, []byte{1, 2, 3, 4, 5, 6, 7, 8}))
	bpfmap := id(w.AddBlob(format.BlobBPFMap, format.AppendBPFMapAccess(nil, &format.BPFMapAccess{ID: 1, Type: 1, KeySize: 4, ValueSize: 4, Key: []byte{1, 0, 0, 0}, Value: []byte{2, 0, 0, 0}})))
	tuple := format.Tuple{Src: netip.MustParseAddr("10.0.0.1"), Dst: netip.MustParseAddr("fd00::2"), Sport: 1, Dport: 2, Proto: 17}
	// Twelve events: a first chunk of eight alike (compressed) and a
	// second of four using every column.
	for i := range 12 {
		e := format.Event{Time: uint64(10 + i), SKB: 0xffff888000001000 + uint64(i%2)*0x100, ProbeID: 1 + uint32(i%2), Len: 60}
		if i >= 8 {
			e.TrackID, e.Caller, e.CPU, e.PID, e.Comm = 7, text+8, 1, 42, "ping"
			e.Netns, e.Mark, e.Ifindex, e.MTU, e.Protocol, e.PktType = 1, 0xa00, 2, 1500, 0x800, 1
			e.Flags = format.FlagDropReason | format.FlagRetval
			e.DropReason, e.Retval, e.Tuple = 2, -1, tuple
			e.StackID, e.PayloadID = stack, pkt
			if i == 11 {
				e.PayloadID = l3
			}
			e.Blobs[format.BlobMeta], e.Blobs[format.BlobBPFMap] = meta, bpfmap
		}
		must(w.WriteEvent(&e))
	}
	must(w.SetLosses(&format.Losses{RingbufLost: []uint64{0, 3}, ProbesFailed: 1, Other: map[string]uint64{"x": 1}}))
	must(w.Close())
	return buf.Bytes()
}
