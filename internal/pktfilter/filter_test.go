package pktfilter

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

func mustCompile(tb testing.TB, expr string) *Filter {
	tb.Helper()
	f, err := Compile(expr)
	if err != nil {
		tb.Fatalf("Compile(%q): %v", expr, err)
	}
	return f
}

func TestCompileErrors(t *testing.T) {
	tests := []struct {
		expr        string
		want        string
		unsupported bool
	}{
		{"gateway router1", `pcap filter: unsupported primitive "gateway" at offset 0`, true},
		{"host example.com", `pcap filter: unsupported primitive "example.com" at offset 5`, true},
		{"tcp and host db.internal", `pcap filter: unsupported primitive "db.internal" at offset 13`, true},
		{"net loopback", `pcap filter: unsupported primitive "loopback" at offset 4`, true},
		{"ether host router", `pcap filter: unsupported primitive "router" at offset 11`, true},
		{"geneve and protochain 6", `pcap filter: 'protochain' not supported with variable length headers at offset 22`, false},
		{"mpls 1048576", `pcap filter: MPLS label 1048576 greater than maximum 1048575 at offset 5`, false},
		{"mpls and arp", `pcap filter: unsupported protocol over mpls at offset 12`, false},
		{"mpls and vlan", `pcap filter: no VLAN match after MPLS at offset 9`, false},
		{"pppoes 65536", `pcap filter: PPPoE session number 65536 greater than maximum 65535 at offset 7`, false},
		{"pppoes and ether host 1:2:3:4:5:6", `pcap filter: ethernet addresses supported only on ethernet/FDDI/token ring/802.11/ATM LANE/Fibre Channel at offset 22`, false},
		{"geneve 16777216", `pcap filter: Geneve VNI 16777216 greater than maximum 16777215 at offset 7`, false},
		{"geneve and vlan", `pcap filter: unsupported primitive "vlan after geneve" at offset 11`, true},
		{"tcp and llc i", `pcap filter: unsupported primitive "llc i" at offset 12`, true},
		{"udp protochain 17", `pcap filter: bad protocol applied for 'protochain' at offset 15`, false},
		{"inbound", `pcap filter: unsupported primitive "inbound" at offset 0`, true},
		{"ifindex 3", `pcap filter: unsupported primitive "ifindex" at offset 0`, true},
		{"wlan type mgt", `pcap filter: unsupported primitive "type" at offset 5`, true},
		{"decnet host 1.2", `pcap filter: unsupported primitive "decnet" at offset 0`, true},
		{"ip broadcast", `pcap filter: unsupported primitive "ip broadcast" at offset 3`, true},
		{"ether proto \\ipx", `pcap filter: unsupported primitive "ether proto \\ipx" at offset 12`, true},
		{"$1", `pcap filter: unsupported primitive "$1" at offset 0`, true},
		{"len > 1 and decnet", `pcap filter: unsupported primitive "decnet" at offset 12`, true},
		{"(tcp", `pcap filter: syntax error: unexpected end of expression at offset 4`, false},
		{"tcp)", `pcap filter: syntax error: unexpected ")" at offset 3`, false},
		{"tcp and", `pcap filter: syntax error: unexpected end of expression at offset 7`, false},
		{"1.2.3.4", `pcap filter: syntax error: unexpected "1.2.3.4" at offset 0`, false},
		{"tcp or 1.2.3.4", `pcap filter: syntax error: address without a qualifier at offset 7`, false},
		{"ip 10.0.0.1", `pcap filter: syntax error: unexpected "10.0.0.1" at offset 3`, false},
		{"port 80-90", `pcap filter: unknown port '80-90' at offset 5`, false},
		{"port 70000", `pcap filter: illegal port number 70000 > 65535 at offset 5`, false},
		{"udp port ssh", `pcap filter: port 'ssh' is tcp at offset 9`, false},
		{"port 53 or 1.2.3.4", `pcap filter: 'port' modifier applied to ip host at offset 11`, false},
		{"tcp host 10.0.0.1", `pcap filter: 'tcp' modifier applied to host at offset 9`, false},
		{"ip6 host 10.0.0.1", `pcap filter: 'ip6' modifier applied to ip host at offset 9`, false},
		{"ip host 2001:db8::1", `pcap filter: 'ip' modifier applied to ip6 host at offset 8`, false},
		{"net 10.0.0.1/8", `pcap filter: non-network bits set in "10.0.0.1/8" at offset 4`, false},
		{"host 10.0.0.0/8", `pcap filter: Mask syntax for networks only at offset 5`, false},
		{"net 10.0.0.0/33", `pcap filter: mask length must be <= 32 at offset 4`, false},
		{"host 256.1.1.1", `pcap filter: invalid IPv4 address '256.1.1.1' at offset 5`, false},
		{"00:11:22:33:44:55", `pcap filter: syntax error: unexpected "00:11:22:33:44:55" at offset 0`, false},
		{"host 00:11:22:33:44:55", `pcap filter: ethernet address used in non-ether expression at offset 5`, false},
		{"ether host 10.0.0.1", `pcap filter: illegal link layer address at offset 11`, false},
		{"ip[0:3] = 1", `pcap filter: data size must be 1, 2, or 4 at offset 0`, false},
		{"ip[0] / 0 = 1", `pcap filter: division by zero at offset 6`, false},
		{"ip[0] % 0 = 1", `pcap filter: modulus by zero at offset 6`, false},
		{"ip[0] << 32 = 1", `pcap filter: shift by more than 31 bits at offset 6`, false},
		{"ah[0] = 1", `pcap filter: unsupported index operation at offset 0`, false},
		{"vlan 5000", `pcap filter: VLAN tag 5000 greater than maximum 4095 at offset 5`, false},
		{"src proto 6", `pcap filter: syntax error: unexpected "proto" at offset 4`, false},
		{"ip proto \\nosuch", `pcap filter: unknown ip proto 'nosuch' at offset 9`, false},
		{"arp proto 6", `pcap filter: arp does not encapsulate another protocol at offset 10`, false},
		{"tcp proto 6", `pcap filter: 'tcp proto' is bogus at offset 10`, false},
		{"ip src proto 6", `pcap filter: syntax error: unexpected "proto" at offset 7`, false},
		{"len-1 > 2", `pcap filter: syntax error: unexpected "len-1" at offset 0`, false},
		{"tcp[0", `pcap filter: syntax error: unexpected end of expression at offset 5`, false},
		{"port 099", `pcap filter: number 099 contains non-octal digit at offset 5`, false},
		{"len > 0x100000000", `pcap filter: number 0x100000000 overflows 32 bits at offset 6`, false},
		{"host 1:2::3::4", `pcap filter: bogus address 1:2::3::4 at offset 5`, false},
		{"tcp # comment", `pcap filter: syntax error: unexpected character '#' at offset 4`, false},
		{"port 53 and not (8.8.8.8)", `pcap filter: 'port' modifier applied to ip host at offset 17`, false},
		{"\\", `pcap filter: syntax error: lone backslash at offset 0`, false},
	}
	for _, tt := range tests {
		t.Run(tt.expr, func(t *testing.T) {
			f, err := Compile(tt.expr)
			if err == nil {
				t.Fatalf("Compile(%q) = %v, want error %q", tt.expr, f, tt.want)
			}
			if diff := cmp.Diff(tt.want, err.Error()); diff != "" {
				t.Errorf("error (-want +got):\n%s", diff)
			}
			if got := errors.Is(err, ErrUnsupported); got != tt.unsupported {
				t.Errorf("errors.Is(err, ErrUnsupported) = %v, want %v", got, tt.unsupported)
			}
			if got := errors.Is(err, ErrSyntax); got == tt.unsupported {
				t.Errorf("errors.Is(err, ErrSyntax) = %v, want %v", got, !tt.unsupported)
			}
			var e *Error
			if !errors.As(err, &e) {
				t.Fatalf("error %T is not *Error", err)
			}
		})
	}
}

func TestCompileString(t *testing.T) {
	tests := []struct{ expr, want string }{
		{"", ""},
		{"  tcp   port\t80 ", "tcp port 80"},
		{"host 10.0.0.1 or\n10.0.0.2", "host 10.0.0.1 or 10.0.0.2"},
		{"tcp[tcpflags] & (tcp-syn|tcp-ack) != 0", "tcp[tcpflags] & (tcp-syn|tcp-ack) != 0"},
	}
	for _, tt := range tests {
		t.Run(tt.expr, func(t *testing.T) {
			if got := mustCompile(t, tt.expr).String(); got != tt.want {
				t.Errorf("String() = %q, want %q", got, tt.want)
			}
		})
	}
}

// TestParse checks how expressions are grouped and which qualifiers an
// address inherits, by comparing each with an explicit equivalent over the
// whole corpus.
func TestParse(t *testing.T) {
	ps := corpus(t)
	tests := []struct{ expr, same string }{
		{"host 10.0.0.1 or 10.0.0.2", "host 10.0.0.1 or host 10.0.0.2"},
		{"src host 10.0.0.1 or 10.0.0.2", "src host 10.0.0.1 or src host 10.0.0.2"},
		{"port 53 or 80", "port 53 or port 80"},
		{"tcp dst port 80 or 443", "tcp dst port 80 or tcp dst port 443"},
		{"host 10.0.0.1 and not 10.0.0.2", "host 10.0.0.1 and not host 10.0.0.2"},
		{"host 10.0.0.1 or (tcp) or 10.0.0.9", "host 10.0.0.1 or tcp or host 10.0.0.9"},
		{"port (53 or 443)", "port 53 or port 443"},
		{"tcp or udp and port 53", "(tcp or udp) and port 53"},
		{"not tcp and udp", "(not tcp) and udp"},
		{"ip proto 6 or 17", "ip proto 6 or ip proto 17"},
		{"tcp[13] & 2 != 0", "(tcp[13] & 2) != 0"},
		{"1 + 2 * 3 = 7", "7 = 7"},
		{"1 << 2 + 1 = 8", "1 = 1"},
		{"10 % 3 + 1 = 2", "1 = 1"},
		{"10 % 3 + 1 = 1", "0 = 1"},
		{"net 10", "net 10.0.0.0/8"},
		{"net 192.168", "net 192.168.0.0/16"},
		{"host 10.0", "net 10.0.0.0/16"},
		{"net 172.16.0.0 mask 255.240.0.0", "net 172.16.0.0/12"},
		{"tcp[tcpflags] & tcp-syn != 0", "tcp[13] & 2 != 0"},
		{"icmp[icmptype] == icmp-echo", "icmp[0] = 8"},
		{"proto \\tcp", "ip proto 6 or ip6 proto 6"},
		{"ether proto \\arp", "arp"},
		{"tcp && !udp || icmp", "(tcp and not udp) or icmp"},
		{"length >= 100", "greater 100"},
		{"len <= 100", "less 100"},
		{"vlan 100 and tcp", "vlan 100 and ether[16:2] = 0x0800 and ether[27] = 6"},
		{"port 0x50", "port 80"},
		{"port 0120", "port 80"},
	}
	for _, tt := range tests {
		t.Run(tt.expr, func(t *testing.T) {
			f, g := mustCompile(t, tt.expr), mustCompile(t, tt.same)
			for _, p := range ps {
				if a, b := f.MatchLen(p.data, p.wirelen, p.l3), g.MatchLen(p.data, p.wirelen, p.l3); a != b {
					t.Errorf("packet %q: %q = %v, %q = %v", p.name, tt.expr, a, tt.same, b)
				}
			}
		})
	}
}

// TestMatch checks verdicts on named corpus packets; it needs no libpcap.
func TestMatch(t *testing.T) {
	ps := corpus(t)
	byName := map[string]testPacket{}
	for _, p := range ps {
		byName[p.name] = p
	}
	tests := []struct {
		expr   string
		packet string
		want   bool
	}{
		{"", "empty l2", true},
		{"tcp port 80", "v4 tcp syn 10.0.0.1:12345>10.0.0.2:80", true},
		{"tcp port 80", "l3 v4 tcp syn 10.0.0.1:12345>10.0.0.2:80", true},
		{"udp port 80", "v4 tcp syn 10.0.0.1:12345>10.0.0.2:80", false},
		{"src port 12345 and dst port 80", "v4 tcp syn 10.0.0.1:12345>10.0.0.2:80", true},
		{"tcp[tcpflags] & (tcp-syn|tcp-ack) == tcp-syn", "v4 tcp syn 10.0.0.1:12345>10.0.0.2:80", true},
		{"tcp[tcpflags] & (tcp-syn|tcp-ack) == tcp-syn", "v4 tcp synack 10.0.0.2:80>10.0.0.1:12345", false},
		{"tcp port 22", "v4 ip options tcp fin 22", true},
		{"tcp[0:2] = 22", "v4 ip options tcp fin 22", true},
		{"host 10.0.0.2", "arp request", true},
		{"ip host 10.0.0.2", "arp request", false},
		{"net 2001:db8::/32", "v6 udp dns", true},
		{"ip6 dst net 2001:db8:2::/48", "v6 udp dns", true},
		{"ip6 src net 2001:db8:2::/48", "v6 udp dns", false},
		{"udp port 53", "v4 udp later fragment", false},
		{"udp", "v4 udp later fragment", true},
		{"ip6 proto 17", "v6 frag first udp", true},
		{"udp port 53", "v6 frag first udp", false},
		{"icmp6[icmp6type] = icmp6-echo", "v6 icmp6 echo", true},
		{"icmp6", "v6 hop-by-hop mld report", false},
		{"vlan 100 and tcp port 80", "vlan 100 v4 tcp 80", true},
		{"tcp port 80", "vlan 100 v4 tcp 80", false},
		{"vlan 300 and vlan 400 and udp port 2000", "qinq 300/400 v4 udp", true},
		{"vlan 400", "qinq 300/400 v4 udp", false},
		{"vlan or ip", "v4 icmp echo", false},
		{"ether host 00:11:22:33:44:55", "v4 icmp echo", true},
		{"ether src 66:77:88:99:aa:bb", "v4 icmp echo", false},
		{"ether broadcast", "arp request", true},
		{"ether multicast", "v4 udp mdns multicast", true},
		{"ip multicast", "v4 udp mdns multicast", true},
		{"ip6 multicast", "v6 udp dhcpv6 multicast", true},
		{"ether proto 0x42", "802.3 llc stp", true},
		{"sctp port 3868", "v4 sctp 3868", true},
		{"sctp[0:2] = 9899", "v6 sctp 9899", false},
		// Link-layer primitives are false without a link-layer header.
		{"ether host 00:11:22:33:44:55", "l3 v4 icmp echo", false},
		{"not ether host 00:11:22:33:44:55", "l3 v4 icmp echo", true},
		{"vlan", "l3 v4 icmp echo", false},
		{"broadcast", "l3 v4 udp dhcp broadcast", false},
		{"arp", "l3 v4 icmp echo", false},
		{"ip", "l3 v6 tcp 443", false},
		{"ip6", "l3 v6 tcp 443", true},
		{"ip or ip6", "l3 garbage version 5", false},
		// Reads past the end reject the packet, even under "not".
		{"not port 80", "trunc38 v4 tcp syn 10.0.0.1:12345>10.0.0.2:80", false},
		{"not host 10.0.0.9", "trunc24 v4 tcp syn 10.0.0.1:12345>10.0.0.2:80", false},
		{"ip", "trunc24 v4 tcp syn 10.0.0.1:12345>10.0.0.2:80", true},
		{"tcp[100] = 1 or tcp", "v4 tcp syn 10.0.0.1:12345>10.0.0.2:80", true}, // libpcap drops the test
		{"tcp or tcp[100] = 1", "v4 tcp syn 10.0.0.1:12345>10.0.0.2:80", true},
		{"ip[2:2] / (ip[8] - 64) = 1", "v4 icmp echo", false},
		{"not ip[2:2] / (ip[8] - 64) = 1", "v4 icmp echo", false},
		// The wire length, not the captured length, counts for len.
		{"greater 60", "trunc24 v4 tcp syn 10.0.0.1:12345>10.0.0.2:80", true},
		{"len = 60", "trunc24 v4 tcp syn 10.0.0.1:12345>10.0.0.2:80", true},
		{"less 30", "trunc24 v4 tcp syn 10.0.0.1:12345>10.0.0.2:80", false},
		// byte: libpcap 1.10 ignores the index for & and |; we do not.
		{"byte 23 & 0x04", "v4 tcp syn 10.0.0.1:12345>10.0.0.2:80", true},
		{"byte 23 & 0x08", "v4 tcp syn 10.0.0.1:12345>10.0.0.2:80", false},
		{"byte 23 | 0", "v4 tcp syn 10.0.0.1:12345>10.0.0.2:80", true},
		{"byte 23 | 0", "empty l2", false},
	}
	for _, tt := range tests {
		t.Run(tt.expr+" on "+tt.packet, func(t *testing.T) {
			p, ok := byName[tt.packet]
			if !ok {
				t.Fatalf("no packet %q", tt.packet)
			}
			f := mustCompile(t, tt.expr)
			if got := f.MatchLen(p.data, p.wirelen, p.l3); got != tt.want {
				t.Errorf("MatchLen = %v, want %v", got, tt.want)
			}
			if p.wirelen == 0 {
				if got := f.Match(p.data, p.l3); got != tt.want {
					t.Errorf("Match = %v, want %v", got, tt.want)
				}
			}
		})
	}
}

// TestTruncationNeverPanics runs every expression over every prefix of
// every corpus packet.
func TestTruncationNeverPanics(t *testing.T) {
	ps := corpus(t)
	var fs []*Filter
	for _, e := range conformanceExprs {
		if f, err := Compile(e); err == nil {
			fs = append(fs, f)
		}
	}
	for _, p := range ps {
		for n := 0; n <= len(p.data) && n <= 80; n++ {
			for _, f := range fs {
				f.Match(p.data[:n], p.l3)
			}
		}
	}
}

func TestMatchDoesNotAllocate(t *testing.T) {
	ps := corpus(t)
	for _, e := range []string{"tcp port 80", "host 2001:db8::1 or net 10.0.0.0/8",
		"tcp[((tcp[12:1] & 0xf0) >> 2):4] = 0x47455420", "vlan and ip6 and udp port 53", "not icmp and len > 60"} {
		f := mustCompile(t, e)
		allocs := testing.AllocsPerRun(100, func() {
			for _, p := range ps {
				f.MatchLen(p.data, p.wirelen, p.l3)
			}
		})
		if allocs != 0 {
			t.Errorf("%q: %v allocations per run", e, allocs)
		}
	}
}

func TestDeepNesting(t *testing.T) {
	deep := ""
	for range 1000 {
		deep += "("
	}
	if _, err := Compile(deep + "tcp"); err == nil {
		t.Fatal("Compile of 1000 nested parentheses succeeded")
	}
	var notChain string
	for range 100 {
		notChain += "not "
	}
	f := mustCompile(t, notChain+"tcp")
	if !f.Match(corpus(t)[0].data, false) {
		t.Error("100 negations of tcp do not match a TCP packet")
	}
}

// TestOptimiserPreservesVerdicts checks, for random expressions over the
// corpus, that the optimised filter gives the unoptimised verdict on every
// packet the unoptimised filter reads within the capture: constant
// folding and jump threading may only change which out-of-range reads
// happen.
func TestOptimiserPreservesVerdicts(t *testing.T) {
	ps := corpus(t)
	g := newExprGen(2)
	var compared, compiled int
	for range 1000 {
		expr := g.expr(2)
		plain, err := compile(expr, false)
		if err != nil {
			continue
		}
		opt, err := Compile(expr)
		if err != nil {
			continue // a constant division by zero found by folding
		}
		compiled++
		for _, p := range ps {
			want, aborted := plain.matchTrace(p.data, p.wirelen, p.l3)
			if aborted {
				continue
			}
			compared++
			if got := opt.MatchLen(p.data, p.wirelen, p.l3); got != want {
				t.Errorf("%q on %q (l3=%v): optimised %v, unoptimised %v", expr, p.name, p.l3, got, want)
			}
		}
	}
	if compiled < 900 || compared < 50000 {
		t.Errorf("only %d expressions compiled, %d verdicts compared", compiled, compared)
	}
}

func TestPathologicalExpressionsAreQuick(t *testing.T) {
	for _, expr := range []string{
		"tcp or " + strings.Repeat("(", 100000) + "10.0.0.1",
		"tcp or " + strings.Repeat("not ", 100000) + "10.0.0.1",
		strings.Repeat("-", 100000) + "1 = 1",
		strings.Repeat("tcp and ", 20000) + "tcp",
	} {
		start := time.Now()
		Compile(expr)
		if d := time.Since(start); d > 5*time.Second {
			t.Errorf("Compile of a %d-byte expression took %v", len(expr), d)
		}
	}
}

func TestRejectsAll(t *testing.T) {
	for _, tt := range []struct {
		expr string
		want bool
	}{
		{"tcp port 80 and vlan", true},
		{"ip and arp", true},
		{"tcp", false},
		{"vlan and tcp port 80", false},
		{"geneve and ip and arp", false}, // never optimised, like libpcap
		{"", false},
	} {
		if got := mustCompile(t, tt.expr).RejectsAll(); got != tt.want {
			t.Errorf("Compile(%q).RejectsAll() = %v, want %v", tt.expr, got, tt.want)
		}
	}
}
