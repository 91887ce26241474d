package pktfilter

import (
	"errors"
	"fmt"
	"strings"
)

// Sentinel errors wrapped by every error [Compile] returns; test with
// errors.Is.
var (
	// ErrSyntax marks an expression that is not valid pcap-filter syntax
	// or is rejected by libpcap's rules (bad qualifier, bad address).
	ErrSyntax = errors.New("invalid filter expression")
	// ErrUnsupported marks valid pcap-filter syntax that pktfilter does
	// not implement (see the package documentation for the list).
	ErrUnsupported = errors.New("unsupported filter primitive")
)

// Error describes a problem in an expression and where it is. It wraps
// [ErrSyntax] or [ErrUnsupported].
type Error struct {
	Offset int    // byte offset in the expression
	Msg    string // what is wrong, without the position
	kind   error
}

// Error returns the one-line message, e.g.
// `pcap filter: unsupported primitive "gateway" at offset 5`.
func (e *Error) Error() string {
	return fmt.Sprintf("pcap filter: %s at offset %d", e.Msg, e.Offset)
}

// Unwrap returns [ErrSyntax] or [ErrUnsupported].
func (e *Error) Unwrap() error { return e.kind }

func errorf(pos int, format string, args ...any) error {
	return &Error{Offset: pos, Msg: fmt.Sprintf(format, args...), kind: ErrSyntax}
}

func unsupported(pos int, what string) error {
	return &Error{Offset: pos, Msg: fmt.Sprintf("unsupported primitive %q", what), kind: ErrUnsupported}
}

// Filter is a compiled pcap-filter expression, created by [Compile]. It is
// immutable and safe for concurrent use by multiple goroutines.
type Filter struct {
	expr string
	l2   program // for packets from the Ethernet header
	l3   program // for packets from the IP header
}

// Compile parses a pcap-filter expression (tcpdump syntax). The empty
// expression matches every packet. Errors are of type *[Error].
func Compile(expr string) (*Filter, error) {
	return compile(expr, true)
}

// compile is [Compile]; optimize false gives the verdicts of libpcap's
// unoptimised code (pcap_compile with optimize 0), which tests use.
func compile(expr string, optimize bool) (*Filter, error) {
	toks, err := lex(expr)
	if err != nil {
		return nil, err
	}
	p := &parser{toks: toks, optimize: optimize}
	root, err := p.parseProgram()
	if err != nil {
		return nil, err
	}
	if p.noOpt && optimize {
		// libpcap never optimises geneve and protochain code.
		return compile(expr, false)
	}
	f := &Filter{expr: strings.Join(strings.Fields(expr), " "),
		l2: program{entry: accept}, l3: program{entry: accept, l3: true}}
	if root != nil {
		f.l2, f.l3 = compileProgram(root, false, optimize), compileProgram(root, true, optimize)
	}
	return f, nil
}

// String returns the expression the filter was compiled from, with runs
// of white space collapsed to one space.
func (f *Filter) String() string { return f.expr }

// Match reports whether the packet matches. data holds the captured bytes:
// from the Ethernet header, or from the IPv4/IPv6 header when l3 is true.
// The packet's length for len, less and greater is len(data); use
// [Filter.MatchLen] when the capture was truncated. Reading past the end
// of data rejects the packet, as in libpcap. Match does not allocate and
// does not retain data.
func (f *Filter) Match(data []byte, l3 bool) bool {
	return f.MatchLen(data, len(data), l3)
}

// MatchLen is [Filter.Match] for a packet whose original length on the
// wire was origLen while only data was captured (origLen below len(data)
// counts as len(data)).
func (f *Filter) MatchLen(data []byte, origLen int, l3 bool) bool {
	match, _ := f.matchTrace(data, origLen, l3)
	return match
}

// matchTrace is [Filter.MatchLen] that also reports whether a test read
// past the captured bytes (or divided by zero).
func (f *Filter) matchTrace(data []byte, origLen int, l3 bool) (match, aborted bool) {
	match, tr := f.matchInfo(data, origLen, l3)
	return match, tr.aborted
}

// trace is what a match did besides deciding.
type trace struct {
	aborted bool // a test read past the captured bytes (or divided by zero)
	hung    bool // a protochain walk on which libpcap's interpreter loops forever
	uninit  bool // a load used Geneve offsets no Geneve test had computed
}

// matchInfo is [Filter.MatchLen] with a trace.
func (f *Filter) matchInfo(data []byte, origLen int, l3 bool) (bool, trace) {
	wirelen := uint64(max(origLen, len(data)))
	m := newMachine(data, uint32(min(wirelen, 0xffffffff)), l3)
	pr := &f.l2
	if l3 {
		pr = &f.l3
	}
	match, aborted := pr.run(&m)
	return match, trace{aborted: aborted, hung: m.hung, uninit: m.uninit}
}

// RejectsAll reports that the filter, as optimised, can match no packet
// of either kind (Ethernet or raw IP): libpcap's optimiser refuses such
// an expression ("expression rejects all packets"), while its unoptimised
// code, which pktfilter follows, accepts it and matches nothing.
func (f *Filter) RejectsAll() bool {
	return f.l2.entry == reject && f.l3.entry == reject
}
