package format_test

import (
	"bytes"
	"encoding/hex"
	"net/netip"
	"testing"

	"github.com/pwru-record/pwru-record/format"
)

// specExample are the bytes of the annotated example in SPEC.md section
// 10; the test keeps the specification and the code in step.
const specExample = "" +
	"89505752550d0a1a010000000000000050574553010000000f0000000f000000" +
	"0000000000000000000000000000000000000000d3a21731df635c2000016800" +
	"0000000000d00f00000000505745530400000019000000190000000000000000" +
	"0000000000000000000000010000009427426630a0b0110117010669705f7263" +
	"76008080808df8ffffffff010201000050574553060000005200000052000000" +
	"e803000000000000dc05000000000000020000004f4d77241d13d8f901047069" +
	"6e671803020407010205010101050001020202000000000c00000000f4030001" +
	"bd8f2203ffbfffffdfdf3b020102dfffffe50f022a00808080800f02a801dc0b" +
	"801005010a0000010a0000020000505745530a00000003000000030000000000" +
	"0000000000000000000000000000000000007aa3646072218b53000000505745" +
	"530b0000001f0000001f00000000000000000000000000000000000000040000" +
	"00b2e84f38666102180401103b0f000000043b451900000106457e52e807dc0b" +
	"020a7e2f030000003d0100000000000050575255454e440a"

func TestSpecExample(t *testing.T) {
	var buf bytes.Buffer
	w, err := format.NewWriter(&buf, &format.Header{Hostname: "h", MonoOffset: 1000}, &format.WriterOptions{FlushInterval: -1})
	if err != nil {
		t.Fatal(err)
	}
	if err := w.AddProbes([]format.Probe{{ID: 1, Name: "ip_rcv", Addr: 0xffffffff81a00000, Kind: format.ProbeKprobeMulti, SKBArg: 1}}); err != nil {
		t.Fatal(err)
	}
	e := format.Event{
		Time: 1000, SKB: 0xffff888100001000, TrackID: 1, ProbeID: 1, CPU: 2, PID: 42, Comm: "ping",
		Netns: 4026531840, Ifindex: 2, Len: 84, MTU: 1500, Protocol: 0x0800,
		Tuple: format.Tuple{Src: netip.MustParseAddr("10.0.0.1"), Dst: netip.MustParseAddr("10.0.0.2"), Proto: 1},
	}
	if err := w.WriteEvent(&e); err != nil {
		t.Fatal(err)
	}
	e.Time, e.ProbeID, e.Caller = 1500, 2, 0xffffffff81a00010
	if err := w.WriteEvent(&e); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	if got := hex.EncodeToString(buf.Bytes()); got != specExample {
		t.Errorf("the SPEC.md example changed; update section 10 and this test.\ngot  %s\nwant %s", got, specExample)
	}
}
