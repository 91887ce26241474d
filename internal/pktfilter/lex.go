package pktfilter

import (
	"fmt"
	"net/netip"
	"strings"
)

// tokKind is the lexical class of a token, mirroring libpcap's scanner.
type tokKind uint8

const (
	tkEOF  tokKind = iota
	tkNum          // number, or a named constant such as tcp-syn
	tkHID          // dotted IPv4 address or prefix: 10, 10.1, 10.1.2.3
	tkHID6         // IPv6 address
	tkEID          // MAC address
	tkID           // any other name, or a backslash-escaped word
	tkKW           // keyword, text holds its canonical spelling
	tkAnd          // and, &&
	tkOr           // or, ||
	tkNot          // not, !
	tkOp           // punctuation and operators, text holds it
)

// token is one lexical element of an expression.
type token struct {
	kind tokKind
	pos  int    // byte offset in the expression
	text string // source text
	kw   string // canonical keyword for tkKW
	num  uint32 // value of tkNum
}

// keywords maps libpcap's keywords (and their aliases) to a canonical
// spelling. Keywords that pktfilter does not implement are listed too, so
// that they are reported as unsupported rather than as unknown names.
var keywords = map[string]string{
	"dst": "dst", "src": "src",
	"link": "link", "ether": "link", "ppp": "link", "slip": "link", "fddi": "link", "tr": "link", "wlan": "link",
	"arp": "arp", "rarp": "rarp", "ip": "ip", "sctp": "sctp", "tcp": "tcp", "udp": "udp", "icmp": "icmp",
	"igmp": "igmp", "igrp": "igrp", "pim": "pim", "vrrp": "vrrp", "carp": "carp",
	"ip6": "ip6", "icmp6": "icmp6", "ah": "ah", "esp": "esp",
	"host": "host", "net": "net", "mask": "mask", "port": "port", "portrange": "portrange", "proto": "proto",
	"less": "less", "greater": "greater", "byte": "byte", "broadcast": "broadcast", "multicast": "multicast",
	"len": "len", "length": "len", "vlan": "vlan",

	// Recognised but unsupported.
	"radio": "radio", "atalk": "atalk", "aarp": "aarp", "decnet": "decnet", "lat": "lat", "sca": "sca",
	"moprc": "moprc", "mopdl": "mopdl", "iso": "iso", "esis": "esis", "es-is": "esis", "isis": "isis",
	"is-is": "isis", "l1": "l1", "l2": "l2", "iih": "iih", "lsp": "lsp", "snp": "snp", "csnp": "csnp",
	"psnp": "psnp", "clnp": "clnp", "stp": "stp", "ipx": "ipx", "netbeui": "netbeui",
	"protochain": "protochain", "gateway": "gateway", "type": "type", "subtype": "subtype",
	"direction": "dir", "dir": "dir", "address1": "addr1", "addr1": "addr1", "address2": "addr2",
	"addr2": "addr2", "address3": "addr3", "addr3": "addr3", "address4": "addr4", "addr4": "addr4",
	"ra": "ra", "ta": "ta", "inbound": "inbound", "outbound": "outbound", "ifindex": "ifindex",
	"mpls": "mpls", "pppoed": "pppoed", "pppoes": "pppoes", "geneve": "geneve", "lane": "lane",
	"llc": "llc", "metac": "metac", "bcc": "bcc", "oam": "oam", "oamf4": "oamf4", "oamf4ec": "oamf4ec",
	"oamf4sc": "oamf4sc", "sc": "sc", "ilmic": "ilmic", "vpi": "vpi", "vci": "vci",
	"connectmsg": "connectmsg", "metaconnect": "metaconnect", "on": "ifname", "ifname": "ifname",
	"rset": "rset", "ruleset": "rset", "rnr": "rnr", "rulenum": "rnr", "srnr": "srnr",
	"subrulenum": "srnr", "reason": "reason", "action": "action", "fisu": "fisu", "lssu": "lssu",
	"lsu": "lssu", "msu": "msu", "hfisu": "hfisu", "hlssu": "hlssu", "hmsu": "hmsu", "sio": "sio",
	"opc": "opc", "dpc": "dpc", "sls": "sls", "hsio": "hsio", "hopc": "hopc", "hdpc": "hdpc", "hsls": "hsls",
}

// namedConsts are the scanner's named numbers (offsets, ICMP types, TCP
// flag bits).
var namedConsts = map[string]uint32{
	"icmptype": 0, "icmpcode": 1,
	"icmp-echoreply": 0, "icmp-unreach": 3, "icmp-sourcequench": 4, "icmp-redirect": 5, "icmp-echo": 8,
	"icmp-routeradvert": 9, "icmp-routersolicit": 10, "icmp-timxceed": 11, "icmp-paramprob": 12,
	"icmp-tstamp": 13, "icmp-tstampreply": 14, "icmp-ireq": 15, "icmp-ireqreply": 16, "icmp-maskreq": 17,
	"icmp-maskreply": 18,
	"icmp6type":      0, "icmp6code": 1,
	"icmp6-destinationunreach": 1, "icmp6-packettoobig": 2, "icmp6-timeexceeded": 3,
	"icmp6-parameterproblem": 4, "icmp6-echo": 128, "icmp6-echoreply": 129,
	"icmp6-multicastlistenerquery": 130, "icmp6-multicastlistenerreportv1": 131,
	"icmp6-multicastlistenerdone": 132, "icmp6-routersolicit": 133, "icmp6-routeradvert": 134,
	"icmp6-neighborsolicit": 135, "icmp6-neighboradvert": 136, "icmp6-redirect": 137,
	"icmp6-routerrenum": 138, "icmp6-nodeinformationquery": 139, "icmp6-nodeinformationresponse": 140,
	"icmp6-ineighbordiscoverysolicit": 141, "icmp6-ineighbordiscoveryadvert": 142,
	"icmp6-multicastlistenerreportv2": 143, "icmp6-homeagentdiscoveryrequest": 144,
	"icmp6-homeagentdiscoveryreply": 145, "icmp6-mobileprefixsolicit": 146,
	"icmp6-mobileprefixadvert": 147, "icmp6-certpathsolicit": 148, "icmp6-certpathadvert": 149,
	"icmp6-multicastrouteradvert": 151, "icmp6-multicastroutersolicit": 152,
	"icmp6-multicastrouterterm": 153,
	"tcpflags":                  13, "tcp-fin": 0x01, "tcp-syn": 0x02, "tcp-rst": 0x04, "tcp-push": 0x08, "tcp-ack": 0x10,
	"tcp-urg": 0x20, "tcp-ece": 0x40, "tcp-cwr": 0x80,
}

// lex splits expr into tokens with libpcap's rules: the longest match wins,
// and on a tie keywords, MAC addresses, numbers and dotted addresses beat
// plain names. The final token is tkEOF.
func lex(expr string) ([]token, error) {
	var toks []token
	i := 0
	for {
		for i < len(expr) && isSpace(expr[i]) {
			i++
		}
		if i >= len(expr) {
			toks = append(toks, token{kind: tkEOF, pos: i})
			return toks, nil
		}
		t, n, err := lexOne(expr, i)
		if err != nil {
			return nil, err
		}
		toks = append(toks, t)
		i += n
	}
}

func isSpace(c byte) bool { return c == ' ' || c == '\t' || c == '\n' || c == '\r' }

func isAlnum(c byte) bool {
	return c >= '0' && c <= '9' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z'
}

func isHex(c byte) bool {
	return c >= '0' && c <= '9' || c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F'
}

// lexOne scans the token at expr[i:] and returns it with its length.
func lexOne(expr string, i int) (token, int, error) {
	s := expr[i:]
	// Two-character operators first, then single characters.
	for _, op := range []string{">=", "<=", "!=", "==", "<<", ">>", "&&", "||"} {
		if strings.HasPrefix(s, op) {
			switch op {
			case "&&":
				return token{kind: tkAnd, pos: i, text: op}, 2, nil
			case "||":
				return token{kind: tkOr, pos: i, text: op}, 2, nil
			case "==":
				return token{kind: tkOp, pos: i, text: "="}, 2, nil
			}
			return token{kind: tkOp, pos: i, text: op}, 2, nil
		}
	}
	c := s[0]
	if c == ':' {
		if n, ok := scanV6(s); n > 0 {
			if !ok {
				return token{}, 0, errorf(i, "bogus address %s", s[:n])
			}
			return token{kind: tkHID6, pos: i, text: s[:n]}, n, nil
		}
	}
	if strings.IndexByte("+-*/%:[]<>()&|^=", c) >= 0 {
		return token{kind: tkOp, pos: i, text: string(c)}, 1, nil
	}
	if c == '!' {
		return token{kind: tkNot, pos: i, text: "!"}, 1, nil
	}
	if c == '\\' {
		n := 1
		for n < len(s) && strings.IndexByte(" !()\n\t", s[n]) < 0 {
			n++
		}
		if n == 1 {
			return token{}, 0, errorf(i, "syntax error: lone backslash")
		}
		return token{kind: tkID, pos: i, text: s[1:n]}, n, nil
	}
	if c == '$' {
		return token{}, 0, unsupported(i, "$"+arcnetRun(s[1:]))
	}
	if !isAlnum(c) && c != ':' {
		return token{}, 0, errorf(i, "syntax error: unexpected character %q", c)
	}
	idLen := scanID(s)
	macLen := scanMAC(s)
	v6Len, v6ok := scanV6(s)
	switch {
	case macLen > 0 && macLen >= idLen && macLen >= v6Len:
		return token{kind: tkEID, pos: i, text: s[:macLen]}, macLen, nil
	case v6Len > idLen:
		if !v6ok {
			return token{}, 0, errorf(i, "bogus address %s", s[:v6Len])
		}
		return token{kind: tkHID6, pos: i, text: s[:v6Len]}, v6Len, nil
	case idLen == 0:
		return token{}, 0, errorf(i, "syntax error: unexpected character %q", c)
	}
	word := s[:idLen]
	if kw, ok := keywords[word]; ok {
		return token{kind: tkKW, pos: i, text: word, kw: kw}, idLen, nil
	}
	switch word {
	case "and":
		return token{kind: tkAnd, pos: i, text: word}, idLen, nil
	case "or":
		return token{kind: tkOr, pos: i, text: word}, idLen, nil
	case "not":
		return token{kind: tkNot, pos: i, text: word}, idLen, nil
	}
	if v, ok := namedConsts[word]; ok {
		return token{kind: tkNum, pos: i, text: word, num: v}, idLen, nil
	}
	if isNumber(word) {
		v, err := parseNumber(word)
		if err != nil {
			return token{}, 0, errorf(i, "%v", err)
		}
		return token{kind: tkNum, pos: i, text: word, num: v}, idLen, nil
	}
	if isDotted(word) {
		return token{kind: tkHID, pos: i, text: word}, idLen, nil
	}
	return token{kind: tkID, pos: i, text: word}, idLen, nil
}

func arcnetRun(s string) string {
	n := 0
	for n < len(s) && n < 2 && isHex(s[n]) {
		n++
	}
	return s[:n]
}

// scanID returns the length of the longest name at the start of s:
// [A-Za-z0-9]([-_.A-Za-z0-9]*[.A-Za-z0-9])?
func scanID(s string) int {
	if len(s) == 0 || !isAlnum(s[0]) {
		return 0
	}
	n, last := 1, 1
	for n < len(s) {
		c := s[n]
		if isAlnum(c) || c == '.' {
			n++
			last = n
		} else if c == '-' || c == '_' {
			n++
		} else {
			break
		}
	}
	return last
}

// scanMAC returns the length of a MAC address at the start of s in one of
// libpcap's forms (aa:bb:cc:dd:ee:ff, aa-bb-.., aa.bb..., aabb.ccdd.eeff,
// aabbccddeeff; single hex digits allowed in the separated forms), or 0.
func scanMAC(s string) int {
	best := 0
	for _, sep := range []byte{':', '-', '.'} {
		n, ok := 0, true
		for g := 0; g < 6 && ok; g++ {
			if g > 0 {
				if n < len(s) && s[n] == sep {
					n++
				} else {
					ok = false
					break
				}
			}
			d := 0
			for d < 2 && n < len(s) && isHex(s[n]) {
				n++
				d++
			}
			if d == 0 {
				ok = false
			}
		}
		if ok && n > best {
			best = n
		}
	}
	hex4 := func(p int) bool {
		return p+4 <= len(s) && isHex(s[p]) && isHex(s[p+1]) && isHex(s[p+2]) && isHex(s[p+3])
	}
	if hex4(0) && len(s) > 4 && s[4] == '.' && hex4(5) && len(s) > 9 && s[9] == '.' && hex4(10) && best < 14 {
		best = 14
	}
	if hex4(0) && hex4(4) && hex4(8) && best < 12 {
		best = 12
	}
	return best
}

// scanV6 returns the length of the run of IPv6 address characters at the
// start of s when it contains a colon, and whether it is a valid address.
func scanV6(s string) (int, bool) {
	n, colons := 0, 0
	for n < len(s) && (isHex(s[n]) || s[n] == ':' || s[n] == '.') {
		if s[n] == ':' {
			colons++
		}
		n++
	}
	if colons < 2 {
		return 0, false
	}
	a, err := netip.ParseAddr(s[:n])
	return n, err == nil && a.Is6() && a.Zone() == ""
}

func isNumber(w string) bool {
	if strings.HasPrefix(w, "0x") || strings.HasPrefix(w, "0X") {
		if len(w) == 2 {
			return false
		}
		for i := 2; i < len(w); i++ {
			if !isHex(w[i]) {
				return false
			}
		}
		return true
	}
	for i := 0; i < len(w); i++ {
		if w[i] < '0' || w[i] > '9' {
			return false
		}
	}
	return true
}

// parseNumber converts a number token like libpcap: 0x hex, leading-zero
// octal, else decimal, all limited to 32 bits.
func parseNumber(w string) (uint32, error) {
	base, digits := uint64(10), w
	switch {
	case strings.HasPrefix(w, "0x") || strings.HasPrefix(w, "0X"):
		base, digits = 16, w[2:]
	case len(w) > 1 && w[0] == '0':
		base, digits = 8, w[1:]
	}
	var n uint64
	for i := 0; i < len(digits); i++ {
		c := digits[i]
		var d uint64
		switch {
		case c >= '0' && c <= '9':
			d = uint64(c - '0')
		case c >= 'a' && c <= 'f':
			d = uint64(c-'a') + 10
		default:
			d = uint64(c-'A') + 10
		}
		if d >= base {
			return 0, fmt.Errorf("number %s contains non-octal digit", w)
		}
		n = n*base + d
		if n > 0xffffffff {
			return 0, fmt.Errorf("number %s overflows 32 bits", w)
		}
	}
	return uint32(n), nil
}

// isDotted reports whether w is two to four numbers separated by dots.
func isDotted(w string) bool {
	parts := strings.Split(w, ".")
	if len(parts) < 2 || len(parts) > 4 {
		return false
	}
	for _, p := range parts {
		if p == "" || !isNumber(p) {
			return false
		}
	}
	return true
}
