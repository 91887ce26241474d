package analyze

import (
	"fmt"
	"strings"

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
