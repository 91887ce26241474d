package pktfilter

import (
	"fmt"
	"math/rand/v2"
	"strings"
)

// exprGen generates random pcap-filter expressions from the supported
// grammar, for differential testing against libpcap. It is deterministic
// for a given seed.
type exprGen struct {
	r *rand.Rand
}

func newExprGen(seed uint64) *exprGen {
	return &exprGen{r: rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))}
}

func (g *exprGen) pick(xs ...string) string { return xs[g.r.IntN(len(xs))] }

var (
	genHosts  = []string{"10.0.0.1", "10.0.0.2", "8.8.8.8", "192.168.1.10", "172.16.5.4", "224.0.0.251", "0.0.0.0"}
	genHosts6 = []string{"2001:db8::1", "2001:db8::2", "fe80::1", "ff02::1:2", "::1", "2001:db8:1::5"}
	genNets   = []string{"10.0.0.0/8", "10.0.0.0/24", "192.168.0.0/16", "224.0.0.0/4", "10", "172.16", "10.0.0",
		"172.16.0.0 mask 255.255.0.0", "0.0.0.0/0"}
	genNets6  = []string{"2001:db8::/32", "fe80::/10", "ff00::/8", "2001:db8:2::/48", "::/0"}
	genPorts  = []string{"53", "80", "443", "22", "5353", "12345", "67", "3868", "0", "domain", "http"}
	genRanges = []string{"1-1024", "6000-6010", "50000-40000", "53-53", "ftp-ssh"}
	genMACs   = []string{"00:11:22:33:44:55", "66:77:88:99:aa:bb", "ff:ff:ff:ff:ff:ff", "01:00:5e:00:00:01"}
	genProtos = []string{"ip", "ip6", "tcp", "udp", "sctp", "icmp", "icmp6", "arp", "rarp", "igmp", "pim", "ah", "esp"}
)

// primitive returns one primitive and, when it takes an address, a
// function producing further bare addresses of the same kind (for
// libpcap's qualifier inheritance).
func (g *exprGen) primitive() (string, func() string) {
	dir := g.pick("", "", "src ", "dst ", "src or dst ", "src and dst ")
	switch g.r.IntN(16) {
	case 0:
		return g.pick(genProtos...), nil
	case 1:
		p := g.pick("", "", "ip ", "arp ")
		return p + dir + "host " + g.pick(genHosts...), func() string { return g.pick(genHosts...) }
	case 2:
		return g.pick("", "ip6 ") + dir + "host " + g.pick(genHosts6...), func() string { return g.pick(genHosts6...) }
	case 3:
		return g.pick("", "ip ") + dir + "net " + g.pick(genNets...), func() string { return g.pick(genNets...) }
	case 4:
		return dir + "net " + g.pick(genNets6...), func() string { return g.pick(genNets6...) }
	case 5, 6:
		return g.pick("", "tcp ", "udp ", "sctp ") + dir + "port " + g.pick(genPorts[:9]...), func() string { return g.pick(genPorts[:9]...) }
	case 7:
		return g.pick("", "tcp ", "udp ") + dir + "portrange " + g.pick(genRanges...), nil
	case 8:
		return "ether " + strings.TrimSpace(dir+"host") + " " + g.pick(genMACs...), func() string { return g.pick(genMACs...) }
	case 9:
		v := g.pick("", " 100", " 200", " 300", " 400")
		return "vlan" + v, nil
	case 10:
		return g.pick("ip proto 6", "proto 17", "ip6 proto 58", "ether proto 0x806", "ip proto \\udp", "ip6 proto 44", "ether proto \\ip"), nil
	case 11:
		return g.pick("len > 100", "greater 60", "less 80", "len = 60", "len <= 54"), nil
	case 12:
		return g.pick("broadcast", "multicast", "ip multicast", "ip6 multicast", "ether broadcast"), nil
	default:
		return g.relation(), nil
	}
}

func (g *exprGen) arith(depth int) string {
	if depth > 2 || g.r.IntN(3) == 0 {
		switch g.r.IntN(5) {
		case 0:
			return fmt.Sprint(g.r.IntN(70))
		case 1:
			return "len"
		case 2:
			return g.pick("tcpflags", "tcp-syn", "tcp-ack", "icmp-echo", "icmptype", "0x45", "0xff")
		default:
			idx := g.arith(depth + 1)
			if g.r.IntN(2) == 0 {
				idx = fmt.Sprint(g.r.IntN(45))
			}
			size := g.pick("", "", ":1", ":2", ":4")
			return g.pick("ether", "ip", "ip6", "tcp", "udp", "icmp", "icmp6", "arp", "sctp") + "[" + idx + size + "]"
		}
	}
	op := g.pick("+", "-", "*", "&", "|", ">>", "<<", "/", "%", "^")
	rhs := g.arith(depth + 1)
	if op == "/" || op == "%" {
		rhs = fmt.Sprint(1 + g.r.IntN(9))
	}
	if op == ">>" || op == "<<" {
		rhs = fmt.Sprint(g.r.IntN(8))
	}
	e := g.arith(depth+1) + " " + op + " " + rhs
	if g.r.IntN(3) == 0 {
		e = "(" + e + ")"
	}
	if g.r.IntN(8) == 0 {
		e = "-" + e
	}
	return e
}

func (g *exprGen) relation() string {
	return g.arith(0) + " " + g.pick("=", "==", "!=", "<", ">", "<=", ">=") + " " + g.arith(1)
}

// expr returns a random expression of up to about depth levels.
func (g *exprGen) expr(depth int) string {
	var b strings.Builder
	n := 1 + g.r.IntN(3)
	for i := 0; i < n; i++ {
		if i > 0 {
			b.WriteString(g.pick(" and ", " or ", " && ", " || "))
		}
		if g.r.IntN(5) == 0 {
			b.WriteString("not ")
		}
		if depth > 0 && g.r.IntN(4) == 0 {
			b.WriteString("(" + g.expr(depth-1) + ")")
			continue
		}
		prim, more := g.primitive()
		b.WriteString(prim)
		for more != nil && g.r.IntN(2) == 0 {
			b.WriteString(g.pick(" or ", " and ", " and not ") + more())
		}
	}
	return b.String()
}
