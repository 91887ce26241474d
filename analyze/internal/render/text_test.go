package render

import (
	"net/netip"
	"testing"

	"github.com/pwru-record/pwru-record/format"
)

func TestAppendTuple(t *testing.T) {
	v4 := format.Tuple{Src: netip.MustParseAddr("10.0.0.1"), Dst: netip.MustParseAddr("10.0.0.2"), Sport: 80, Dport: 4242, Proto: 6}
	v6 := format.Tuple{Src: netip.MustParseAddr("fd00::1"), Dst: netip.MustParseAddr("fd00::2"), Sport: 53, Dport: 5353, Proto: 17}
	tests := []struct {
		name      string
		t         format.Tuple
		flags     uint8
		withFlags bool
		text      string
		json      string
	}{
		{"tcp", v4, 0x12, false, "10.0.0.1:80->10.0.0.2:4242(tcp)", `{"saddr":"10.0.0.1","daddr":"10.0.0.2","sport":80,"dport":4242,"proto":6}`},
		{"tcp flags", v4, 0x12, true, "10.0.0.1:80->10.0.0.2:4242(tcp:SYN|ACK)", `{"saddr":"10.0.0.1","daddr":"10.0.0.2","sport":80,"dport":4242,"proto":6,"flags":"SYN|ACK"}`},
		{"udp6", v6, 0x12, true, "[fd00::1]:53->[fd00::2]:5353(udp)", `{"saddr":"fd00::1","daddr":"fd00::2","sport":53,"dport":5353,"proto":17}`},
		{"zero", format.Tuple{}, 0, false, ":0->:0()", `{"saddr":"","daddr":"","sport":0,"dport":0,"proto":0}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := string(AppendTuple(nil, &tt.t, tt.flags, tt.withFlags)); got != tt.text {
				t.Errorf("AppendTuple = %q, want %q", got, tt.text)
			}
			if got := string(AppendJSONTuple(nil, &tt.t, tt.flags, tt.withFlags)); got != tt.json {
				t.Errorf("AppendJSONTuple = %q, want %q", got, tt.json)
			}
		})
	}
	if got := Flow(&v4); got != "10.0.0.1:80->10.0.0.2:4242(tcp)" {
		t.Errorf("Flow = %q", got)
	}
}

func TestText(t *testing.T) {
	for _, tt := range []struct{ got, want string }{
		{CenterAlign("IFACE", 16), "     IFACE      "},
		{CenterAlign("a-longer-name-here", 4), "a-longer-name-here"},
		{TildeTrim("ksoftirqd/0:12345678"), "~irqd/0:12345678"},
		{TildeTrim("ping:7"), "ping:7"},
		{string(AppendJSONString(nil, "a\"b\\\n\x01\xff")), `"a\"b\\\n\u0001\ufffd"`},
		{Hex16(0xabc), "0000000000000abc"},
		{OrDash(""), "-"},
		{WrapWords([]string{"aa", "bb", "cc"}, 5, "  "), "aa bb\n  cc"},
		{Plural(1) + Plural(2), "s"},
		{string(Pad([]byte("ab"), 0, 4)), "ab  "},
	} {
		if tt.got != tt.want {
			t.Errorf("got %q, want %q", tt.got, tt.want)
		}
	}
}
