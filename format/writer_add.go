package format

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/maphash"
)

// This file adds the deduplicated references events point to (stacks,
// blobs, packets) and the small sections (BTF, kallsyms, probes,
// interfaces).

// AddBTF stores raw BTF of a kernel module ("" = vmlinux). A module's BTF
// is stored once: later calls for the same module are ignored.
func (w *Writer) AddBTF(module string, raw []byte) error {
	if err := w.check("add btf"); err != nil {
		return err
	}
	if len(raw) == 0 {
		return fmt.Errorf("add btf %q: empty data", module)
	}
	if w.btfSeen[module] {
		return nil
	}
	w.btfSeen[module] = true
	return w.section(SectionBTF, 0, 0, 1, appendBTF(w.raw[:0], module, raw))
}

// AddKallsyms stores a kallsyms snapshot. Several calls add up.
func (w *Writer) AddKallsyms(syms []Symbol) error {
	if err := w.check("add kallsyms"); err != nil {
		return err
	}
	w.raw = appendKallsyms(w.raw[:0], syms)
	return w.section(SectionKallsyms, 0, 0, len(syms), w.raw)
}

// AddProbes stores probe descriptions; it may be called again to append.
func (w *Writer) AddProbes(p []Probe) error {
	if err := w.check("add probes"); err != nil {
		return err
	}
	w.raw = appendProbes(w.raw[:0], p)
	return w.section(SectionProbes, 0, 0, len(p), w.raw)
}

// AddInterfaces stores interfaces and network namespaces: the snapshot
// at start, and later the devices that appeared.
func (w *Writer) AddInterfaces(ifs []Interface, ns []Netns) error {
	if err := w.check("add interfaces"); err != nil {
		return err
	}
	for _, f := range ifs {
		w.ifNames[[2]uint32{f.Netns, f.Ifindex}] = f.Name
	}
	w.raw = appendInterfaces(w.raw[:0], ifs, ns)
	return w.section(SectionInterfaces, 0, 0, len(ifs), w.raw)
}

// AddStack stores a kernel stack and returns its ID; identical stacks get
// the same ID. An empty stack returns 0 (none).
func (w *Writer) AddStack(ips []uint64) (uint32, error) {
	if err := w.check("add stack"); err != nil {
		return 0, err
	}
	if len(ips) == 0 {
		return 0, nil
	}
	if len(ips) > maxStackAddrs {
		return 0, fmt.Errorf("add stack: %d addresses exceed the limit of %d", len(ips), maxStackAddrs)
	}
	key := make([]byte, 0, 8*len(ips))
	for _, ip := range ips {
		key = binary.LittleEndian.AppendUint64(key, ip)
	}
	if id, ok := w.stackIDs[string(key)]; ok {
		return id, nil
	}
	id := w.stackFirst + uint32(w.stackN)
	w.stackIDs[string(key)] = id
	w.stackBuf = appendStack(w.stackBuf, ips)
	w.stackN++
	w.stats.Stacks++
	if len(w.stackBuf) >= flushBufBytes {
		return id, w.flushStacks()
	}
	return id, nil
}

// AddBlob stores raw bytes of kind (a Blob* constant) and returns its ID;
// identical (kind, data) pairs get the same ID.
func (w *Writer) AddBlob(kind int, data []byte) (uint32, error) {
	if err := w.check("add blob"); err != nil {
		return 0, err
	}
	if kind < 0 || kind >= NumBlobKinds {
		return 0, fmt.Errorf("add blob: unknown kind %d", kind)
	}
	if len(data) > maxBlobBytes {
		return 0, fmt.Errorf("add blob: %d bytes exceed the limit of %d", len(data), maxBlobBytes)
	}
	var h maphash.Hash
	h.SetSeed(w.seed)
	h.WriteByte(byte(kind))
	h.Write(data)
	key := h.Sum64()
	if id, ok := w.blobIDs[key]; ok {
		return id, nil
	}
	id := w.blobFirst + uint32(w.blobN)
	w.blobIDs[key] = id
	w.blobBuf = appendBlob(w.blobBuf, kind, data)
	w.blobN++
	w.stats.Blobs++
	if len(w.blobBuf) >= flushBufBytes {
		return id, w.flushBlobs()
	}
	return id, nil
}

// AddPacket stores a payload as a pcapng enhanced packet block and returns
// its ID. A packet whose Data and L3 equal an earlier one's is not stored
// again: the earlier ID is returned (with the earlier Time and interface).
func (w *Writer) AddPacket(p *Packet) (uint32, error) {
	if err := w.check("add packet"); err != nil {
		return 0, err
	}
	if p == nil {
		return 0, errors.New("add packet: nil packet")
	}
	if len(p.Data) > maxPacketData {
		return 0, fmt.Errorf("add packet: %d bytes exceed the %d-byte limit", len(p.Data), maxPacketData)
	}
	if p.OrigLen < uint32(len(p.Data)) {
		return 0, fmt.Errorf("add packet: original length %d below captured length %d", p.OrigLen, len(p.Data))
	}
	var h maphash.Hash
	h.SetSeed(w.seed)
	if p.L3 {
		h.WriteByte(1)
	} else {
		h.WriteByte(0)
	}
	h.Write(p.Data)
	key := h.Sum64()
	if id, ok := w.pktIDs[key]; ok {
		return id, nil
	}
	if !w.shbDone {
		w.pktBuf = appendSHB(w.pktBuf, &w.hdr)
		w.shbDone = true
	}
	k := ifaceKey{Netns: p.Netns, Ifindex: p.Ifindex, L3: p.L3}
	iface, ok := w.ifaceIDs[k]
	if !ok {
		iface = uint32(len(w.ifaceIDs))
		w.ifaceIDs[k] = iface
		w.pktBuf = appendIDB(w.pktBuf, k, w.ifNames[[2]uint32{p.Netns, p.Ifindex}])
	}
	w.secIfaces[k] = iface
	ts := p.Time + uint64(w.hdr.MonoOffset)
	w.pktBuf = appendEPB(w.pktBuf, iface, ts, p.OrigLen, p.Data)
	id := w.pktFirst + uint32(w.pktN)
	w.pktIDs[key] = id
	w.pktN++
	w.stats.Packets++
	if len(w.pktBuf) >= flushBufBytes {
		return id, w.flushPackets()
	}
	return id, nil
}
