package analyze

import "errors"

// packetMatcher is a compiled pcap-filter expression.
type packetMatcher interface {
	Match(data []byte, l3 bool) bool
}

// compilePcap compiles a tcpdump-syntax expression with the pure-Go
// matcher.
func compilePcap(expr string) (packetMatcher, error) {
	return nil, errors.New("pcap filters are not available yet")
}
