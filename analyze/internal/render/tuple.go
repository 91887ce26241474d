package render

import (
	"net/netip"
	"strconv"

	"github.com/pwru-record/pwru-record/format"
)

// ProtoName is pwru's name of an IP protocol in tuples ("tcp", "udp",
// "icmp", "icmp6"), "" for any other.
func ProtoName(proto uint8) string {
	switch proto {
	case 6:
		return "tcp"
	case 17:
		return "udp"
	case 1:
		return "icmp"
	case 58:
		return "icmp6"
	}
	return ""
}

// AppendAddr appends a as pwru prints it in tuples: IPv4 dotted, IPv6 in
// brackets, nothing for the zero Addr.
func AppendAddr(b []byte, a netip.Addr) []byte {
	switch {
	case !a.IsValid():
		return b
	case a.Is4():
		return a.AppendTo(b)
	default:
		b = append(b, '[')
		b = a.AppendTo(b)
		return append(b, ']')
	}
}

var tcpFlagNames = [...]string{"FIN", "SYN", "RST", "PSH", "ACK", "URG", "ECE", "CWR"}

// AppendTCPFlags appends the TCP flags set in f as "SYN|ACK".
func AppendTCPFlags(b []byte, f uint8) []byte {
	first := true
	for i, n := range tcpFlagNames {
		if f&(1<<i) != 0 {
			if !first {
				b = append(b, '|')
			}
			b = append(b, n...)
			first = false
		}
	}
	return b
}

// AppendTuple appends a tuple as pwru prints it:
// "10.0.0.1:80->10.0.0.2:4242(tcp)", with the TCP flags after the
// protocol ("(tcp:SYN|ACK)") when withFlags and flags are set.
func AppendTuple(b []byte, t *format.Tuple, flags uint8, withFlags bool) []byte {
	b = AppendAddr(b, t.Src)
	b = append(b, ':')
	b = strconv.AppendUint(b, uint64(t.Sport), 10)
	b = append(b, "->"...)
	b = AppendAddr(b, t.Dst)
	b = append(b, ':')
	b = strconv.AppendUint(b, uint64(t.Dport), 10)
	b = append(b, '(')
	b = append(b, ProtoName(t.Proto)...)
	if withFlags && t.Proto == 6 && flags != 0 {
		b = append(b, ':')
		b = AppendTCPFlags(b, flags)
	}
	return append(b, ')')
}

// Flow is the tuple without TCP flags as a string: the flow key and
// label of paths, stats, diff and export.
func Flow(t *format.Tuple) string { return string(AppendTuple(nil, t, 0, false)) }

// AppendJSONTuple appends a tuple as pwru's JSON object
// ({"saddr":...,"daddr":...,"sport":...,"dport":...,"proto":...}), with
// "flags" when withFlags and TCP flags are set.
func AppendJSONTuple(b []byte, t *format.Tuple, flags uint8, withFlags bool) []byte {
	b = append(b, `{"saddr":"`...)
	if t.Src.IsValid() {
		b = t.Src.AppendTo(b)
	}
	b = append(b, `","daddr":"`...)
	if t.Dst.IsValid() {
		b = t.Dst.AppendTo(b)
	}
	b = append(b, `","sport":`...)
	b = strconv.AppendUint(b, uint64(t.Sport), 10)
	b = append(b, `,"dport":`...)
	b = strconv.AppendUint(b, uint64(t.Dport), 10)
	b = append(b, `,"proto":`...)
	b = strconv.AppendUint(b, uint64(t.Proto), 10)
	if withFlags && t.Proto == 6 && flags != 0 {
		b = append(b, `,"flags":"`...)
		b = AppendTCPFlags(b, flags)
		b = append(b, '"')
	}
	return append(b, '}')
}
