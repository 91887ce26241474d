package analyze

import (
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/pwru-record/pwru-record/format"
)

// Filter selects events and skbs. The zero value selects everything.
//
// Event predicates (Func, Netns, Mark, Ifname, Ifindex, SKB, Since, Until)
// select single events, like pwru's live filters. Skb predicates (Dropped,
// Reason, Pcap) select whole skbs: an skb matches when one of its events
// has the drop reason, or one of its payloads matches the pcap expression,
// and then all of its events that pass the event predicates are shown.
// With Track, an skb's clones (same Event.TrackID) are selected with it,
// and SKB becomes an skb predicate.
type Filter struct {
	Func    string // RE2 regular expression matched against the probe name
	Netns   string // netns inode or recorded netns name
	Mark    string // mark[/mask], e.g. 0xa00/0xf00
	Ifname  string // interface name (in any netns, or in Netns)
	Ifindex uint32
	SKB     string // skb address (hex)
	Since   string // Go duration from the first event ("1.5s") or RFC 3339 time
	Until   string // same as Since
	Dropped bool   // only skbs that were dropped
	Reason  string // only skbs dropped with this reason ("NO_SOCKET")
	Pcap    string // pcap-filter expression matched against stored payloads
	Track   bool   // include clones through Event.TrackID
	// Window is how long an skb may stay silent before its next event
	// starts a new journey (0 = DefaultWindow).
	Window time.Duration
}

// matcher is a Filter compiled against one capture.
type matcher struct {
	c        *Capture
	funcOK   []bool // by probe id; nil = any
	netns    uint32
	hasNetns bool
	mark     uint32
	markMask uint32
	hasMark  bool
	ifs      map[ifKey]bool // ifname matches
	ifindex  uint32
	skb      uint64
	skbLife  bool // skb address is an skb-level predicate (Track)
	since    uint64
	until    uint64
	dropped  bool
	reason   uint32
	hasRsn   bool
	pcap     packetMatcher
	track    bool
	window   uint64

	pcapCache map[uint32]bool
	// anyEvent: no event predicate is set (event always true).
	anyEvent bool
}

// compile checks the filter and resolves names against c.
func (flt *Filter) compile(c *Capture) (*matcher, error) {
	m := &matcher{c: c, track: flt.Track, window: uint64(flt.Window)}
	if flt.Func != "" {
		re, err := regexp.Compile(flt.Func)
		if err != nil {
			return nil, fmt.Errorf("parse --func: %w", err)
		}
		m.funcOK = make([]bool, len(c.probes))
		for i, p := range c.probes {
			if p != nil && re.MatchString(p.Name) {
				m.funcOK[i] = true
			}
		}
	}
	if flt.Netns != "" {
		if v, err := strconv.ParseUint(strings.TrimPrefix(flt.Netns, "inode:"), 0, 32); err == nil {
			m.netns = uint32(v)
		} else {
			found := false
			for ino, name := range c.netns {
				if name == flt.Netns {
					m.netns, found = ino, true
				}
			}
			if !found {
				return nil, fmt.Errorf("parse --netns: no netns named %q in the capture", flt.Netns)
			}
		}
		m.hasNetns = true
	}
	if flt.Mark != "" {
		mark, mask, err := parseMark(flt.Mark)
		if err != nil {
			return nil, fmt.Errorf("parse --mark: %w", err)
		}
		m.mark, m.markMask, m.hasMark = mark, mask, true
	}
	if flt.Ifname != "" {
		m.ifs = map[ifKey]bool{}
		for k, i := range c.ifaces {
			if i.Name == flt.Ifname && (!m.hasNetns || k.netns == m.netns) {
				m.ifs[k] = true
			}
		}
		if len(m.ifs) == 0 {
			return nil, fmt.Errorf("parse --ifname: no interface named %q in the capture", flt.Ifname)
		}
	}
	m.ifindex = flt.Ifindex
	if flt.SKB != "" {
		v, err := strconv.ParseUint(strings.TrimPrefix(strings.ToLower(flt.SKB), "0x"), 16, 64)
		if err != nil {
			return nil, fmt.Errorf("parse --skb: %q is not a hex address", flt.SKB)
		}
		m.skb = v
		m.skbLife = flt.Track
	}
	var err error
	if m.since, err = c.parseTime(flt.Since); err != nil {
		return nil, fmt.Errorf("parse --since: %w", err)
	}
	if m.until, err = c.parseTime(flt.Until); err != nil {
		return nil, fmt.Errorf("parse --until: %w", err)
	}
	m.dropped = flt.Dropped
	if flt.Reason != "" {
		v, ok := c.DropReasonValue(flt.Reason)
		if !ok {
			return nil, fmt.Errorf("parse --reason: unknown drop reason %q", flt.Reason)
		}
		m.reason, m.hasRsn = v, true
	}
	if strings.TrimSpace(flt.Pcap) != "" {
		p, err := compilePcap(flt.Pcap)
		if err != nil {
			return nil, fmt.Errorf("parse %q: %w", flt.Pcap, err)
		}
		m.pcap = p
		m.pcapCache = map[uint32]bool{}
	}
	m.anyEvent = m.funcOK == nil && !m.hasNetns && !m.hasMark && m.ifs == nil && m.ifindex == 0 &&
		(m.skb == 0 || m.skbLife) && m.since == 0 && m.until == 0
	return m, nil
}

// parseMark parses "mark[/mask]"; the mask defaults to all ones.
func parseMark(s string) (mark, mask uint32, err error) {
	ms, masks, hasMask := strings.Cut(s, "/")
	v, err := strconv.ParseUint(ms, 0, 32)
	if err != nil {
		return 0, 0, fmt.Errorf("%q is not a number", ms)
	}
	mask = 0xffffffff
	if hasMask {
		w, err := strconv.ParseUint(masks, 0, 32)
		if err != nil {
			return 0, 0, fmt.Errorf("%q is not a number", masks)
		}
		mask = uint32(w)
	}
	return uint32(v), mask, nil
}

// parseTime turns a --since/--until value into kernel monotonic ns: a Go
// duration counts from the capture's first event, anything else is an
// RFC 3339 wall-clock time. "" is 0 (no bound).
func (c *Capture) parseTime(s string) (uint64, error) {
	if s == "" {
		return 0, nil
	}
	if d, err := time.ParseDuration(s); err == nil {
		if d < 0 {
			return 0, fmt.Errorf("negative duration %q", s)
		}
		return c.File.Summary().FirstTime + uint64(d), nil
	}
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		return 0, fmt.Errorf("%q is neither a duration (1.5s) nor an RFC 3339 time", s)
	}
	mono := t.UnixNano() - c.File.Header().MonoOffset
	if mono < 0 {
		return 0, fmt.Errorf("%s is before the capture", s)
	}
	return uint64(mono), nil
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
