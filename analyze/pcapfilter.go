package analyze

import "github.com/pwru-record/pwru-record/internal/pktfilter"

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
