package tracer

import (
	"encoding/binary"
	"errors"
	"fmt"
	"net/netip"
	"unsafe"

	"github.com/pwru-record/pwru-record/bpf"
	"github.com/pwru-record/pwru-record/format"
)

// recordCoreSize is the size of the fixed part of a ring buffer record
// (struct event in bpf/pwru.c).
const recordCoreSize = int(unsafe.Sizeof(bpf.PwruEvent{}))

// Offsets of the record fields, taken from the bpf2go mirror of struct
// event so that they follow the C program.
const (
	offTime         = unsafe.Offsetof(bpf.PwruEvent{}.Time)
	offSKB          = unsafe.Offsetof(bpf.PwruEvent{}.Skb)
	offTrackID      = unsafe.Offsetof(bpf.PwruEvent{}.TrackId)
	offCaller       = unsafe.Offsetof(bpf.PwruEvent{}.Caller)
	offRetval       = unsafe.Offsetof(bpf.PwruEvent{}.Retval)
	offProbeID      = unsafe.Offsetof(bpf.PwruEvent{}.ProbeId)
	offCPU          = unsafe.Offsetof(bpf.PwruEvent{}.Cpu)
	offPID          = unsafe.Offsetof(bpf.PwruEvent{}.Pid)
	offNetns        = unsafe.Offsetof(bpf.PwruEvent{}.Netns)
	offMark         = unsafe.Offsetof(bpf.PwruEvent{}.Mark)
	offIfindex      = unsafe.Offsetof(bpf.PwruEvent{}.Ifindex)
	offLen          = unsafe.Offsetof(bpf.PwruEvent{}.Len)
	offMTU          = unsafe.Offsetof(bpf.PwruEvent{}.Mtu)
	offDropReason   = unsafe.Offsetof(bpf.PwruEvent{}.DropReason)
	offOrigLen      = unsafe.Offsetof(bpf.PwruEvent{}.OrigLen)
	offProtocol     = unsafe.Offsetof(bpf.PwruEvent{}.Protocol)
	offFlags        = unsafe.Offsetof(bpf.PwruEvent{}.Flags)
	offSport        = unsafe.Offsetof(bpf.PwruEvent{}.Sport)
	offDport        = unsafe.Offsetof(bpf.PwruEvent{}.Dport)
	offPktType      = unsafe.Offsetof(bpf.PwruEvent{}.PktType)
	offL4Proto      = unsafe.Offsetof(bpf.PwruEvent{}.L4Proto)
	offIPVersion    = unsafe.Offsetof(bpf.PwruEvent{}.IpVersion)
	offPayloadFlags = unsafe.Offsetof(bpf.PwruEvent{}.PayloadFlags)
	offSaddr        = unsafe.Offsetof(bpf.PwruEvent{}.Saddr)
	offDaddr        = unsafe.Offsetof(bpf.PwruEvent{}.Daddr)
	offComm         = unsafe.Offsetof(bpf.PwruEvent{}.Comm)
	offPayloadLen   = unsafe.Offsetof(bpf.PwruEvent{}.PayloadLen)
	offSKBLen       = unsafe.Offsetof(bpf.PwruEvent{}.SkbLen)
	offShinfoLen    = unsafe.Offsetof(bpf.PwruEvent{}.ShinfoLen)
	offCBLen        = unsafe.Offsetof(bpf.PwruEvent{}.CbLen)
	offMetaLen      = unsafe.Offsetof(bpf.PwruEvent{}.MetaLen)
	offXDPMetaLen   = unsafe.Offsetof(bpf.PwruEvent{}.XdpMetaLen)
	offBPFMapLen    = unsafe.Offsetof(bpf.PwruEvent{}.BpfmapLen)
	offStackLen     = unsafe.Offsetof(bpf.PwruEvent{}.StackLen)
)

// payloadL3 is the payload_flags bit saying the payload starts at the
// network header.
const payloadL3 = 1

// maxStackKeys bounds the raw stack -> capture stack ID cache of a
// decoder (keys of up to 400 bytes: at most ~7 MB); it is cleared when
// full (the writer still deduplicates, at the cost of an allocation per
// lookup until the cache is warm again).
const maxStackKeys = 1 << 14

// maxPayloadSKBs bounds the skb -> last payload map of a decoder; it is
// cleared when full (the next event of each skb then refers to no payload
// until the kernel captures one again).
const maxPayloadSKBs = 1 << 18

// ErrBadRecord is wrapped by errors about ring buffer records that do not
// have the layout of the kernel program.
var ErrBadRecord = errors.New("malformed ring buffer record")

// decoder turns ring buffer records into format events, storing stacks,
// payloads and blobs in the writer. It is owned by the drain goroutine.
type decoder struct {
	w *format.Writer

	stackIDs map[string]uint32 // raw stack bytes of a record -> capture stack id
	ips      []uint64          // scratch for the stack being added
	payloads map[uint64]uint32 // skb -> last payload id
	comms    map[string]string // interned comms
	freeing  map[uint32]bool   // probe ids that end an skb's life
	// carry (rotation, flight recorder): the payloads of live skbs
	// stored in earlier files, re-added to this one (carry.go).
	carry *payloadCarry

	ev  format.Event
	pkt format.Packet
}

func newDecoder(w *format.Writer, freeing map[uint32]bool) *decoder {
	return &decoder{
		w:        w,
		stackIDs: make(map[string]uint32),
		payloads: make(map[uint64]uint32),
		comms:    make(map[string]string),
		freeing:  freeing,
	}
}

// reset points d at the writer of a new file: the stack and payload ids
// of the old file mean nothing there. An skb whose payload was stored in
// the old file gets it again from carry (without carry, it refers to no
// payload until the kernel captures one again).
func (d *decoder) reset(w *format.Writer) {
	d.w = w
	clear(d.stackIDs)
	clear(d.payloads)
}

func u16at(b []byte, off uintptr) uint16 { return binary.LittleEndian.Uint16(b[off:]) }
func u32at(b []byte, off uintptr) uint32 { return binary.LittleEndian.Uint32(b[off:]) }
func u64at(b []byte, off uintptr) uint64 { return binary.LittleEndian.Uint64(b[off:]) }

// decode converts one record and writes it as an event.
func (d *decoder) decode(rec []byte) error {
	if len(rec) < recordCoreSize {
		return fmt.Errorf("decode record: %d bytes, core needs %d: %w", len(rec), recordCoreSize, ErrBadRecord)
	}
	e := &d.ev
	*e = format.Event{
		Time:       u64at(rec, offTime),
		SKB:        u64at(rec, offSKB),
		TrackID:    u64at(rec, offTrackID),
		Caller:     u64at(rec, offCaller),
		Retval:     int64(u64at(rec, offRetval)),
		ProbeID:    u32at(rec, offProbeID),
		CPU:        u32at(rec, offCPU),
		PID:        u32at(rec, offPID),
		Netns:      u32at(rec, offNetns),
		Mark:       u32at(rec, offMark),
		Ifindex:    u32at(rec, offIfindex),
		Len:        u32at(rec, offLen),
		MTU:        u32at(rec, offMTU),
		DropReason: u32at(rec, offDropReason),
		Protocol:   binary.BigEndian.Uint16(rec[offProtocol:]),
		PktType:    rec[offPktType],
		Flags:      format.EventFlags(u16at(rec, offFlags)),
	}
	e.Comm = d.comm(rec[offComm : offComm+16])

	switch rec[offIPVersion] {
	case 4:
		e.Tuple.Src = netip.AddrFrom4([4]byte(rec[offSaddr : offSaddr+4]))
		e.Tuple.Dst = netip.AddrFrom4([4]byte(rec[offDaddr : offDaddr+4]))
	case 6:
		e.Tuple.Src = netip.AddrFrom16([16]byte(rec[offSaddr : offSaddr+16]))
		e.Tuple.Dst = netip.AddrFrom16([16]byte(rec[offDaddr : offDaddr+16]))
	}
	if rec[offIPVersion] != 0 {
		e.Tuple.Proto = rec[offL4Proto]
		e.Tuple.Sport = binary.BigEndian.Uint16(rec[offSport:])
		e.Tuple.Dport = binary.BigEndian.Uint16(rec[offDport:])
	}

	// Variable parts, in the order of struct event's length fields.
	rest := rec[recordCoreSize:]
	take := func(n uint16) ([]byte, error) {
		if int(n) > len(rest) {
			return nil, fmt.Errorf("decode record: part of %d bytes, %d left: %w", n, len(rest), ErrBadRecord)
		}
		p := rest[:n]
		rest = rest[n:]
		return p, nil
	}
	payload, err := take(u16at(rec, offPayloadLen))
	if err != nil {
		return err
	}
	if len(payload) > 0 {
		d.pkt = format.Packet{
			Time:    e.Time,
			Netns:   e.Netns,
			Ifindex: e.Ifindex,
			OrigLen: max(u32at(rec, offOrigLen), uint32(len(payload))),
			L3:      rec[offPayloadFlags]&payloadL3 != 0,
			Data:    payload,
		}
		id, err := d.w.AddPacket(&d.pkt)
		if err != nil {
			return err
		}
		if e.Flags&format.FlagXDP == 0 {
			if len(d.payloads) >= maxPayloadSKBs {
				clear(d.payloads)
			}
			d.payloads[e.SKB] = id
		}
		e.PayloadID = id
	} else if e.Flags&format.FlagXDP == 0 {
		id, ok := d.payloads[e.SKB]
		if !ok && d.carry != nil {
			if id, err = d.carried(e); err != nil {
				return err
			}
		}
		e.PayloadID = id
	}
	for _, part := range [...]struct {
		kind int
		off  uintptr
	}{
		{format.BlobSKB, offSKBLen},
		{format.BlobSharedInfo, offShinfoLen},
		{format.BlobCB, offCBLen},
		{format.BlobMeta, offMetaLen},
		{format.BlobXDPMeta, offXDPMetaLen},
		{format.BlobBPFMap, offBPFMapLen},
	} {
		b, err := take(u16at(rec, part.off))
		if err != nil {
			return err
		}
		if len(b) == 0 {
			continue
		}
		id, err := d.w.AddBlob(part.kind, b)
		if err != nil {
			return err
		}
		e.Blobs[part.kind] = id
	}
	stack, err := take(u16at(rec, offStackLen))
	if err != nil {
		return err
	}
	if e.StackID, err = d.stack(stack); err != nil {
		return err
	}
	if d.freeing[e.ProbeID] {
		delete(d.payloads, e.SKB)
	}
	return d.w.WriteEvent(e)
}

func (d *decoder) comm(b []byte) string {
	n := 0
	for n < len(b) && b[n] != 0 {
		n++
	}
	b = b[:n]
	if s, ok := d.comms[string(b)]; ok {
		return s
	}
	s := string(b)
	if len(d.comms) < 1<<16 {
		d.comms[s] = s
	}
	return s
}

// stack returns the capture stack ID of raw, the stack part of a record
// (little-endian return addresses, innermost first); 0 when raw is empty.
// Identical stacks are looked up by their bytes, without allocating.
func (d *decoder) stack(raw []byte) (uint32, error) {
	if len(raw) == 0 {
		return 0, nil
	}
	if len(raw)%8 != 0 {
		return 0, fmt.Errorf("decode record: stack of %d bytes, not whole addresses: %w", len(raw), ErrBadRecord)
	}
	if id, ok := d.stackIDs[string(raw)]; ok {
		return id, nil
	}
	d.ips = d.ips[:0]
	for b := raw; len(b) > 0; b = b[8:] {
		d.ips = append(d.ips, binary.LittleEndian.Uint64(b))
	}
	id, err := d.w.AddStack(d.ips)
	if err != nil {
		return 0, err
	}
	if len(d.stackIDs) >= maxStackKeys {
		clear(d.stackIDs)
	}
	d.stackIDs[string(raw)] = id
	return id, nil
}

// carried re-adds the payload of e's skb stored in an earlier file (or
// let go of by the flight recorder's window) to this one, once per skb
// and file; an skb whose payload cannot be re-added is counted.
func (d *decoder) carried(e *format.Event) (uint32, error) {
	pkt, known := d.carry.packet(e.SKB, e.Time)
	if !known {
		return 0, nil
	}
	var id uint32
	if pkt != nil {
		var err error
		if id, err = d.w.AddPacket(pkt); err != nil {
			return 0, err
		}
	} else {
		d.carry.missing++
	}
	if len(d.payloads) >= maxPayloadSKBs {
		clear(d.payloads)
	}
	d.payloads[e.SKB] = id
	return id, nil
}
