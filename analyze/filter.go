package analyze

import (
	"fmt"
	"regexp"
	"strings"
	"time"

	"github.com/pwru-record/pwru-record/internal/pktfilter"
)

// Filter selects events and skbs. The zero value selects everything.
// Values are typed; names (Func, Netns.Name, Ifname, Reason) are resolved
// against the capture when a command starts, and a name the capture does
// not know is a [*FilterError].
//
// Event predicates (Func, Netns, Mark, Ifname, Ifindex, SKB, Since, Until)
// select single events, like pwru's live filters. Skb predicates (Dropped,
// Reason, Pcap) select whole skbs: an skb matches when one of its events
// has the drop reason, or one of its payloads matches the pcap expression,
// and then all of its events that pass the event predicates are shown.
// With Track, an skb's clones (same Event.TrackID) are selected with it,
// and SKB becomes an skb predicate.
type Filter struct {
	Func    string    // RE2 regular expression matched against the probe name
	Netns   *NetnsRef // only this network namespace (nil = any)
	Mark    *Mark     // only events whose mark matches (nil = any)
	Ifname  string    // interface name (in any netns, or in Netns)
	Ifindex uint32    // interface index (0 = any)
	SKB     uint64    // skb address (0 = any)
	Since   TimeBound // no event before
	Until   TimeBound // no event after
	Dropped bool      // only skbs that were dropped
	Reason  string    // only skbs dropped with this reason ("NO_SOCKET", "no_socket", a number)
	Pcap    string    // pcap-filter expression matched against stored payloads
	Track   bool      // include clones through Event.TrackID
	// Window is how long an skb may stay silent before its next event
	// starts a new journey (0 = DefaultWindow).
	Window time.Duration
}

// NetnsRef names a network namespace: by the name the capture recorded
// for it when Name is set, else by inode.
type NetnsRef struct {
	Inode uint32
	Name  string
}

// Mark selects events whose skb mark equals Value in the bits of Mask.
type Mark struct {
	Value, Mask uint32
}

// TimeBound is one end of [Filter]'s time range: the wall-clock time At
// (capture clock) when set, else Offset after the capture's first event.
// The zero value is no bound.
type TimeBound struct {
	Offset time.Duration
	At     time.Time
}

// IsZero reports whether b is no bound.
func (b TimeBound) IsZero() bool { return b.Offset == 0 && b.At.IsZero() }

// FilterError is a [Filter] field that cannot be used with the capture:
// a name it does not record, an invalid pattern or pcap expression, a
// time before the capture. Field is the Go name of the field ("Reason").
type FilterError struct {
	Field string
	Err   error
}

func (e *FilterError) Error() string {
	return "filter " + strings.ToLower(e.Field) + ": " + e.Err.Error()
}

func (e *FilterError) Unwrap() error { return e.Err }

// filterErr is a *FilterError for field.
func filterErr(field string, format string, args ...any) error {
	return &FilterError{Field: field, Err: fmt.Errorf(format, args...)}
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
			return nil, &FilterError{Field: "Func", Err: err}
		}
		m.funcOK = make([]bool, len(c.probes))
		for i, p := range c.probes {
			if p != nil && re.MatchString(p.Name) {
				m.funcOK[i] = true
			}
		}
	}
	if ns := flt.Netns; ns != nil {
		m.netns = ns.Inode
		if ns.Name != "" {
			found := false
			for ino, name := range c.netns {
				if name == ns.Name {
					m.netns, found = ino, true
				}
			}
			if !found {
				return nil, filterErr("Netns", "no netns named %q in the capture", ns.Name)
			}
		}
		m.hasNetns = true
	}
	if flt.Mark != nil {
		m.mark, m.markMask, m.hasMark = flt.Mark.Value, flt.Mark.Mask, true
	}
	if flt.Ifname != "" {
		m.ifs = map[ifKey]bool{}
		for k, i := range c.ifaces {
			if i.Name == flt.Ifname && (!m.hasNetns || k.netns == m.netns) {
				m.ifs[k] = true
			}
		}
		if len(m.ifs) == 0 {
			return nil, filterErr("Ifname", "no interface named %q in the capture", flt.Ifname)
		}
	}
	m.ifindex = flt.Ifindex
	if flt.SKB != 0 {
		m.skb = flt.SKB
		m.skbLife = flt.Track
	}
	var err error
	if m.since, err = c.monoTime(flt.Since); err != nil {
		return nil, &FilterError{Field: "Since", Err: err}
	}
	if m.until, err = c.monoTime(flt.Until); err != nil {
		return nil, &FilterError{Field: "Until", Err: err}
	}
	m.dropped = flt.Dropped
	if flt.Reason != "" {
		v, ok := c.DropReasonValue(flt.Reason)
		if !ok {
			return nil, filterErr("Reason", "unknown drop reason %q", flt.Reason)
		}
		m.reason, m.hasRsn = v, true
	}
	if strings.TrimSpace(flt.Pcap) != "" {
		p, err := compilePcap(flt.Pcap)
		if err != nil {
			return nil, filterErr("Pcap", "parse %q: %w", flt.Pcap, err)
		}
		m.pcap = p
		m.pcapCache = map[uint32]bool{}
	}
	m.anyEvent = m.funcOK == nil && !m.hasNetns && !m.hasMark && m.ifs == nil && m.ifindex == 0 &&
		(m.skb == 0 || m.skbLife) && m.since == 0 && m.until == 0
	return m, nil
}

// monoTime turns a time bound into kernel monotonic ns (0 = no bound).
func (c *Capture) monoTime(b TimeBound) (uint64, error) {
	switch {
	case b.IsZero():
		return 0, nil
	case b.At.IsZero():
		if b.Offset < 0 {
			return 0, fmt.Errorf("negative duration %s", b.Offset)
		}
		return c.File.Summary().FirstTime + uint64(b.Offset), nil
	}
	mono := b.At.UnixNano() - c.File.Header().MonoOffset
	if mono < 0 {
		return 0, fmt.Errorf("%s is before the capture", b.At.Format(time.RFC3339Nano))
	}
	return uint64(mono), nil
}

// PcapWarning returns a one-line warning for a pcap-filter expression
// that compiles but can match no packet, such as "tcp port 80 and vlan"
// (libpcap's optimiser, and so tcpdump, refuses it with "expression
// rejects all packets"), or "" when there is nothing to say. Errors are
// reported when the filter is used, not here.
func PcapWarning(expr string) string {
	if strings.TrimSpace(expr) == "" {
		return ""
	}
	f, err := pktfilter.Compile(expr)
	if err != nil || !f.RejectsAll() {
		return ""
	}
	return fmt.Sprintf("pcap filter %q matches no packet (libpcap refuses it: expression rejects all packets)", f.String())
}
