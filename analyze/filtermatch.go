package analyze

import (
	"github.com/pwru-record/pwru-record/format"
	"github.com/pwru-record/pwru-record/internal/pktfilter"
)

// packetMatcher is a compiled pcap-filter expression.
type packetMatcher interface {
	MatchLen(data []byte, origLen int, l3 bool) bool
}

// compilePcap compiles a tcpdump-syntax expression with the pure-Go
// matcher (internal/pktfilter), so filtering needs no cgo.
func compilePcap(expr string) (packetMatcher, error) {
	f, err := pktfilter.Compile(expr)
	if err != nil {
		return nil, err
	}
	return f, nil
}

// fields returns the event fields the predicates read besides Time, SKB
// and ProbeID (for the scanner's projection).
func (m *matcher) fields() format.Fields {
	var fs format.Fields
	if m.hasNetns || m.ifs != nil {
		fs |= format.FieldNetns
	}
	if m.hasMark {
		fs |= format.FieldMark
	}
	if m.ifs != nil || m.ifindex != 0 {
		fs |= format.FieldIfindex
	}
	if m.pcap != nil {
		fs |= format.FieldPayload
	}
	return fs
}

// skbLevel reports whether whole skbs must be judged (two passes).
func (m *matcher) skbLevel() bool {
	return m.dropped || m.hasRsn || m.pcap != nil || m.skbLife
}

// event applies the event predicates.
func (m *matcher) event(e *format.Event) bool {
	if m.anyEvent {
		return true
	}
	if m.funcOK != nil && (int(e.ProbeID) >= len(m.funcOK) || !m.funcOK[e.ProbeID]) {
		return false
	}
	if m.hasNetns && e.Netns != m.netns {
		return false
	}
	if m.hasMark && e.Mark&m.markMask != m.mark&m.markMask {
		return false
	}
	if m.ifs != nil && !m.ifs[ifKey{e.Netns, e.Ifindex}] {
		return false
	}
	if m.ifindex != 0 && e.Ifindex != m.ifindex {
		return false
	}
	if m.skb != 0 && !m.skbLife && e.SKB != m.skb {
		return false
	}
	if m.since != 0 && e.Time < m.since {
		return false
	}
	if m.until != 0 && e.Time > m.until {
		return false
	}
	return true
}

// observePayload runs the pcap expression on a new payload of l.
func (m *matcher) observePayload(e *format.Event, l *life) {
	if m.pcap == nil || l == nil || l.pktMatch || e.PayloadID == 0 || e.PayloadID == l.payload {
		return
	}
	l.payload = e.PayloadID
	ok, seen := m.pcapCache[e.PayloadID]
	if !seen {
		if p := m.c.packet(e.PayloadID); p != nil {
			ok = m.pcap.MatchLen(p.Data, int(p.OrigLen), p.L3)
		}
		if len(m.pcapCache) > 1<<16 {
			clear(m.pcapCache)
		}
		m.pcapCache[e.PayloadID] = ok
	}
	if ok {
		l.pktMatch = true
	}
}

// lifeMatches applies the skb predicates to an ended lifetime.
func (m *matcher) lifeMatches(l *life) bool {
	if m.dropped && l.fate != FateDropped {
		return false
	}
	if m.hasRsn && (!l.hasRsn || l.reason != m.reason) {
		return false
	}
	if m.pcap != nil && !l.pktMatch {
		return false
	}
	if m.skbLife && l.addr != m.skb {
		return false
	}
	return true
}
