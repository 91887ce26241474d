package format

// This file holds the predictor that encoder and decoder share: the
// probe and caller each event most likely has, learnt from the chunk so
// far, and the base event of a new skb.

// predictor holds the state shared by the chunk encoder and decoder:
// recent skbs and the per-probe predictions. Both sides update it
// identically, so it is never stored.
type predictor struct {
	refs   []Event // last event of each skb of the chunk, by ref
	mtf    [mtfSize]int32
	nmtf   int
	last   int32 // ref of the previous event, -1 at chunk start
	succ   []uint32
	caller [callerSlots]uint64
}

// callerSlots is the size of the caller prediction table, indexed by a
// hash of the (previous probe, probe) pair.
const callerSlots = 1 << 12

func callerSlot(prev, probe uint32) uint32 {
	return (prev*0x9E3779B1 + probe*0x85EBCA77) >> 20
}

func (p *predictor) reset() {
	p.refs = p.refs[:0]
	p.nmtf = 0
	p.last = -1
	clear(p.succ)
	p.caller = [callerSlots]uint64{}
}

// touch moves ref to the front of the move-to-front list. from is its
// position there, or -1 when it is not in the list.
func (p *predictor) touch(ref int32, from int) {
	if from < 0 {
		if p.nmtf < mtfSize {
			p.nmtf++
		}
		from = p.nmtf - 1
	}
	// copy (memmove) beats a loop: positions average about ten, and a
	// new skb shifts the whole list.
	copy(p.mtf[1:from+1], p.mtf[:from])
	p.mtf[0] = ref
}

// predictProbe returns the probe expected after prev.
func (p *predictor) predictProbe(prev uint32) uint32 {
	if int(prev) < len(p.succ) {
		return p.succ[prev]
	}
	return 0
}

// predictCaller returns the caller last seen for probe after prev.
func (p *predictor) predictCaller(prev, probe uint32) uint64 {
	return p.caller[callerSlot(prev, probe)]
}

// learn records that probe followed prev and was called from caller.
func (p *predictor) learn(prev, probe uint32, caller uint64) {
	p.learnProbe(prev, probe)
	p.caller[callerSlot(prev, probe)] = caller
}

// learnProbe records that probe followed prev (learn without the caller).
func (p *predictor) learnProbe(prev, probe uint32) {
	if prev < maxPredictProbe {
		if int(prev) >= len(p.succ) {
			p.succ = growU32(p.succ, int(prev)+1)
		}
		p.succ[prev] = probe
	}
}

func growU32(s []uint32, n int) []uint32 {
	if n <= cap(s) {
		return s[:n]
	}
	t := make([]uint32, n, max(n, 2*cap(s), 64))
	copy(t, s)
	return t
}

// newBase returns the base of a new skb: the previous event with the new
// skb address and no probe.
func (p *predictor) newBase(skb uint64) Event {
	var b Event
	if p.last >= 0 {
		b = p.refs[p.last]
	}
	b.SKB = skb
	b.ProbeID = 0
	return b
}
