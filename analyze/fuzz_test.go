package analyze

import (
	"strings"
	"testing"

	"github.com/pwru-record/pwru-record/analyze/internal/render"
)

// FuzzAppendBTF renders arbitrary bytes as the scenarios' struct sk_buff:
// it must never panic, and always open and close the struct.
func FuzzAppendBTF(f *testing.F) {
	c := mustCapture(f, "basic")
	typ := c.StructType("sk_buff")
	if typ == nil {
		f.Fatal("no struct sk_buff in the scenario's BTF")
	}
	f.Add(make([]byte, 112))
	f.Add([]byte{1, 2, 3})
	f.Fuzz(func(t *testing.T, data []byte) {
		out := string(render.AppendBTF(nil, typ, data, nil))
		if !strings.HasPrefix(out, "(struct sk_buff){\n") || !strings.HasSuffix(out, "}\n") {
			t.Fatalf("malformed rendering:\n%s", out)
		}
	})
}

// FuzzParsePacket: the payload decoder never panics and never reports
// ports for a packet too short to hold them.
func FuzzParsePacket(f *testing.F) {
	f.Add([]byte{}, false)
	f.Add(make([]byte, 60), false)
	f.Add([]byte{0x45, 0, 0, 20, 0, 0, 0x40, 0, 64, 6, 0, 0, 10, 0, 0, 1, 10, 0, 0, 2}, true)
	f.Fuzz(func(t *testing.T, data []byte, l3 bool) {
		pi := parsePacket(data, l3)
		if pi.ok && pi.tuple.Sport != 0 && len(data) < 24 {
			t.Fatalf("ports from %d bytes", len(data))
		}
	})
}
