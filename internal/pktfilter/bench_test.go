package pktfilter

import "testing"

// BenchmarkMatch reports the cost of one Match (ns/op) for typical
// filters over a mix of corpus packets; it must not allocate.
func BenchmarkMatch(b *testing.B) {
	ps := corpus(b)
	for _, expr := range []string{
		"tcp",
		"host 10.0.0.1",
		"tcp port 80",
		"host 10.0.0.1 and (tcp port 80 or udp port 53)",
		"net 2001:db8::/32 and not icmp6",
		"tcp[tcpflags] & (tcp-syn|tcp-ack) != 0",
		"tcp[((tcp[12:1] & 0xf0) >> 2):4] = 0x47455420",
		"vlan and ip6 and udp port 53",
		"mpls and udp port 53",
		"pppoes and tcp port 80",
		"geneve and tcp port 80",
		"geneve 7 and ether host 00:11:22:33:44:55",
		"ip6 protochain 6",
		"llc",
	} {
		f := mustCompile(b, expr)
		b.Run(expr, func(b *testing.B) {
			b.ReportAllocs()
			n := 0
			for i := 0; b.Loop(); i++ {
				p := &ps[i%len(ps)]
				if f.MatchLen(p.data, p.wirelen, p.l3) {
					n++
				}
			}
			_ = n
		})
	}
}
