package tracer

import "github.com/pwru-record/pwru-record/format"

// payloadCarry keeps, for a rotated capture or a flight recorder, the
// last payload the kernel captured of each live skb. The kernel sends an
// skb's packet bytes only when they change (bpf/pwru.c payload_seen), so
// the first event of an skb in a new file, or in a capture whose window
// let the payload's record go, would refer to a packet stored in no file
// of its own: the decoder re-adds the carried one instead, when it is
// the packet of that event (no newer payload came before the event).
// When it cannot (the bytes were over the budget, or the carried payload
// is newer than the event), the skb is counted as payload_not_carried.
// It is owned by the drain goroutine.
type payloadCarry struct {
	pkts    map[uint64]*carriedPacket
	bytes   int64 // payload bytes held
	max     int64 // bound on bytes: beyond it only that a payload exists is kept
	freeing map[uint32]bool
	missing uint64 // skbs whose file lacks their payload (cumulative)
}

// carriedPacket is one skb's last payload; data nil means it was over
// the byte budget.
type carriedPacket struct {
	pkt  format.Packet
	data []byte
}

// defaultCarryBytes bounds the payload bytes a payloadCarry holds.
const defaultCarryBytes = 64 << 20

func newPayloadCarry(freeing map[uint32]bool, maxBytes int64) *payloadCarry {
	return &payloadCarry{pkts: make(map[uint64]*carriedPacket), max: maxBytes, freeing: freeing}
}

// note looks at a ring buffer record as it is read (before the window or
// the decoder): a payload is carried, a freeing probe ends the skb.
func (c *payloadCarry) note(rec []byte) {
	if len(rec) < recordCoreSize || format.EventFlags(u16at(rec, offFlags))&format.FlagXDP != 0 {
		return
	}
	skb := u64at(rec, offSKB)
	if c.freeing[u32at(rec, offProbeID)] {
		c.drop(skb)
		return
	}
	n := int(u16at(rec, offPayloadLen))
	if n == 0 || len(rec) < recordCoreSize+n {
		return
	}
	p := c.pkts[skb]
	if p == nil {
		if len(c.pkts) >= maxPayloadSKBs {
			// As the decoder's own map: forget them all; what they
			// would have carried is counted when it is missed.
			c.missing += uint64(len(c.pkts))
			clear(c.pkts)
			c.bytes = 0
		}
		p = &carriedPacket{}
		c.pkts[skb] = p
	}
	c.bytes -= int64(cap(p.data))
	if c.bytes+int64(n) > c.max {
		p.data = nil
	} else {
		if cap(p.data) < n {
			p.data = make([]byte, n)
		}
		p.data = p.data[:n]
		copy(p.data, rec[recordCoreSize:])
		c.bytes += int64(cap(p.data))
	}
	t := u64at(rec, offTime)
	p.pkt = format.Packet{
		Time:    t,
		Netns:   u32at(rec, offNetns),
		Ifindex: u32at(rec, offIfindex),
		OrigLen: max(u32at(rec, offOrigLen), uint32(n)),
		L3:      rec[offPayloadFlags]&payloadL3 != 0,
	}
}

func (c *payloadCarry) drop(skb uint64) {
	if p := c.pkts[skb]; p != nil {
		c.bytes -= int64(cap(p.data))
		delete(c.pkts, skb)
	}
}

// packet returns the carried payload of skb for its event at time t:
// known says the kernel sent one before; pkt is nil when it cannot be
// given (over the budget, or newer than t: the event's own was let go).
func (c *payloadCarry) packet(skb, t uint64) (pkt *format.Packet, known bool) {
	p := c.pkts[skb]
	if p == nil {
		return nil, false
	}
	if p.data == nil || p.pkt.Time > t {
		return nil, true
	}
	p.pkt.Data = p.data
	return &p.pkt, true
}
