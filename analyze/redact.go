package analyze

import (
	"cmp"
	"encoding/binary"
	"errors"
	"fmt"
	"slices"

	"github.com/cilium/ebpf/btf"
	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"

	"github.com/pwru-record/pwru-record/format"
)

// This file is the redaction of [Slice] for sharing a capture: kernel and
// heap addresses become stable pseudonyms (SliceOptions.Redact), payloads
// keep only their L2-L4 headers (SliceOptions.HeadersOnly).

// kernelHalf is the lowest kernel address on x86-64 (the canonical upper
// half): values at or above it are addresses the kernel hides from
// unprivileged users (KASLR base, heap layout). Lower values (per-CPU
// offsets in kallsyms, user pointers) reveal nothing about the layout and
// are kept.
const kernelHalf = 0xffff800000000000

// Pseudonyms live in the x86-64 guard hole (0xffff800000000000 to
// 0xffff87ffffffffff), where no kernel object is: heap objects first, in
// order of first use, then kernel text and data, region by region.
const (
	heapFake     = 0xffff800000001000
	heapStep     = 0x100
	textFake     = 0xffff840000000000
	regionAlign  = 1 << 21 // a region's pseudonym keeps its address modulo 2 MiB
	regionSlack  = 1 << 24 // addresses this far past a region's last symbol still belong to it
	maxRegionGap = 1 << 28 // a larger gap between two symbols of one module starts a new region
)

// textRegion maps a run of kernel symbols of one module: real addresses
// [real, end) to fake + (addr - real).
type textRegion struct {
	real, end, fake uint64
}

// redactor hands out the pseudonyms of one capture. The same address
// always gets the same pseudonym, so the same skb keeps its name, and
// kernel text keeps its offsets within each module, so every address
// symbolizes as before.
type redactor struct {
	on       bool         // false: every method returns its input
	regions  []textRegion // sorted by real
	heap     map[uint64]uint64
	nextHeap uint64
	// words lists, per blob kind whose struct BTF describes, the byte
	// offsets of 8-byte members that may hold a pointer (pointers and
	// 64-bit integers such as skb->_skb_refdst); nil = every aligned word.
	words [format.NumBlobKinds][]int
}

// newRedactor builds the text regions from the capture's kallsyms and the
// pointer layout of the structs in its BTF.
func newRedactor(c *Capture) *redactor {
	r := &redactor{on: true, heap: map[uint64]uint64{}, nextHeap: heapFake}
	syms := c.Symbols().All()
	cursor := uint64(textFake)
	for i := 0; i < len(syms); {
		if syms[i].Addr < kernelHalf {
			i++
			continue
		}
		j := i + 1
		for j < len(syms) && syms[j].Module == syms[i].Module && syms[j].Addr-syms[j-1].Addr < maxRegionGap {
			j++
		}
		start, last := syms[i].Addr, syms[j-1].Addr
		end := last + regionSlack
		if end < last { // wrapped
			end = ^uint64(0)
		}
		if j < len(syms) && syms[j].Addr < end {
			end = syms[j].Addr
		}
		fake := (cursor+regionAlign-1)&^(regionAlign-1) + start%regionAlign
		r.regions = append(r.regions, textRegion{real: start, end: end, fake: fake})
		cursor = fake + (end - start) + regionAlign
		i = j
	}
	if spec := c.BTF(); spec != nil {
		for kind, name := range map[int]string{format.BlobSKB: "sk_buff", format.BlobSharedInfo: "skb_shared_info"} {
			var s *btf.Struct
			err := spec.TypeByName(name, &s)
			if err == nil {
				// A layout that does not resolve leaves words nil: every
				// aligned word is redacted.
				r.words[kind], err = pointerWords(s)
			}
			if err != nil && !errors.Is(err, btf.ErrNotFound) {
				c.noteUnusable(fmt.Errorf("find the pointers of struct %s: %w", name, err))
			}
		}
	}
	return r
}

// addr returns the pseudonym of a.
func (r *redactor) addr(a uint64) uint64 {
	if !r.on || a < kernelHalf {
		return a
	}
	i, found := slices.BinarySearchFunc(r.regions, a, func(t textRegion, a uint64) int { return cmp.Compare(t.real, a) })
	if !found {
		i--
	}
	if i >= 0 && a < r.regions[i].end {
		return r.regions[i].fake + (a - r.regions[i].real)
	}
	if p, ok := r.heap[a]; ok {
		return p
	}
	p := r.nextHeap
	r.nextHeap += heapStep
	r.heap[a] = p
	return p
}

func (r *redactor) stack(ips []uint64) []uint64 {
	if !r.on {
		return ips
	}
	out := make([]uint64, len(ips))
	for i, ip := range ips {
		out[i] = r.addr(ip)
	}
	return out
}

func (r *redactor) symbols(syms []format.Symbol) []format.Symbol {
	if !r.on {
		return syms
	}
	out := slices.Clone(syms)
	for i := range out {
		out[i].Addr = r.addr(out[i].Addr)
	}
	slices.SortStableFunc(out, func(a, b format.Symbol) int { return cmp.Compare(a.Addr, b.Addr) })
	return out
}

func (r *redactor) probes(ps []format.Probe) []format.Probe {
	if !r.on {
		return ps
	}
	out := slices.Clone(ps)
	for i := range out {
		out[i].Addr = r.addr(out[i].Addr)
	}
	return out
}

// blob returns a copy of data with the kernel addresses replaced: at the
// 8-byte members BTF names for the blob's struct, or else at every aligned
// word.
func (r *redactor) blob(kind int, data []byte) []byte {
	if !r.on {
		return data
	}
	out := slices.Clone(data)
	fix := func(off int) {
		if off+8 > len(out) {
			return
		}
		if v := binary.LittleEndian.Uint64(out[off:]); v >= kernelHalf {
			binary.LittleEndian.PutUint64(out[off:], r.addr(v))
		}
	}
	if kind < len(r.words) && r.words[kind] != nil {
		for _, off := range r.words[kind] {
			fix(off)
		}
		return out
	}
	for off := 0; off+8 <= len(out); off += 8 {
		fix(off)
	}
	return out
}

// pointerWords lists the byte offsets of the 8-byte pointer and integer
// members of s, nested structs, unions and arrays included; an error
// when an array's element size does not resolve.
func pointerWords(s *btf.Struct) ([]int, error) {
	seen := map[int]bool{}
	var sizeErr error
	var walk func(t btf.Type, off int, depth int)
	walk = func(t btf.Type, off int, depth int) {
		if depth > 16 {
			return
		}
		switch v := btf.UnderlyingType(t).(type) {
		case *btf.Pointer:
			seen[off] = true
		case *btf.Int:
			if v.Size == 8 {
				seen[off] = true
			}
		case *btf.Struct:
			for _, m := range v.Members {
				if m.BitfieldSize == 0 && m.Offset%8 == 0 {
					walk(m.Type, off+int(m.Offset/8), depth+1)
				}
			}
		case *btf.Union:
			for _, m := range v.Members {
				if m.BitfieldSize == 0 && m.Offset%8 == 0 {
					walk(m.Type, off+int(m.Offset/8), depth+1)
				}
			}
		case *btf.Array:
			size, err := btf.Sizeof(v.Type)
			if err != nil && sizeErr == nil {
				sizeErr = fmt.Errorf("size of %s: %w", v.Type, err)
			}
			if err != nil || size == 0 || v.Nelems > 4096 {
				return
			}
			for i := range int(v.Nelems) {
				walk(v.Type, off+i*size, depth+1)
			}
		}
	}
	walk(s, 0, 0)
	if sizeErr != nil {
		return nil, sizeErr
	}
	out := make([]int, 0, len(seen))
	for off := range seen {
		if off%8 == 0 {
			out = append(out, off)
		}
	}
	slices.Sort(out)
	return out, nil
}

// headersOnly returns a copy of the packet whose bytes after the L2-L4
// headers are zeroes (lengths unchanged). Headers are found by decoding:
// link (Ethernet, unless the data starts at L3), network (IPv4, IPv6 and
// its extension headers, ARP) and the first transport header (TCP with
// options, UDP, SCTP, ICMP: 8 bytes). What cannot be decoded is zeroed.
func headersOnly(p *format.Packet) *format.Packet {
	np := *p
	np.Data = slices.Clone(p.Data)
	n := headerLen(p.Data, p.L3)
	clear(np.Data[n:])
	return &np
}

// headerLen is the length of the L2-L4 headers at the start of data.
func headerLen(data []byte, l3 bool) int {
	var first gopacket.Decoder = layers.LayerTypeEthernet
	if l3 {
		if len(data) == 0 {
			return 0
		}
		switch data[0] >> 4 {
		case 4:
			first = layers.LayerTypeIPv4
		case 6:
			first = layers.LayerTypeIPv6
		default:
			return 0
		}
	}
	pkt := gopacket.NewPacket(data, first, gopacket.DecodeOptions{Lazy: false, NoCopy: true})
	off := 0
	for _, l := range pkt.Layers() {
		switch l.LayerType() {
		case gopacket.LayerTypePayload, gopacket.LayerTypeDecodeFailure, gopacket.LayerTypeFragment:
			return min(off, len(data))
		case layers.LayerTypeTCP, layers.LayerTypeUDP, layers.LayerTypeUDPLite, layers.LayerTypeSCTP,
			layers.LayerTypeICMPv4, layers.LayerTypeIGMP:
			return min(off+len(l.LayerContents()), len(data))
		case layers.LayerTypeICMPv6:
			return min(off+8, len(data))
		}
		if _, app := l.(gopacket.ApplicationLayer); app {
			return min(off, len(data))
		}
		off += len(l.LayerContents())
	}
	return min(off, len(data))
}
