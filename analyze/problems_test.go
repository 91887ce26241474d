package analyze

import (
	"bytes"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/pwru-record/pwru-record/analyze/analyzetest"
	"github.com/pwru-record/pwru-record/format"
)

// TestUnusableCounted: recorded data that cannot be used (an skb->cb blob
// shorter than the 5 words it holds) is said in the output, counted in
// the capture's problems, and does not make the answer incomplete.
func TestUnusableCounted(t *testing.T) {
	var buf bytes.Buffer
	h := &format.Header{WriterVersion: "pwru-record analyzetest", Uname: format.Uname{Sysname: "Linux", Machine: "x86_64"},
		Start: analyzetest.Start(), MonoOffset: analyzetest.Start().UnixNano() - analyzetest.T0}
	w, err := format.NewWriter(&buf, h, &format.WriterOptions{FlushInterval: -1})
	if err != nil {
		t.Fatal(err)
	}
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(w.AddProbes([]format.Probe{{ID: 1, Name: "ip_rcv", Kind: format.ProbeKprobeMulti, SKBArg: 1}}))
	cb, err := w.AddBlob(format.BlobCB, []byte{1, 2, 3, 4})
	must(err)
	for i := range 2 {
		e := format.Event{Time: uint64(analyzetest.T0 + 1000*(i+1)), SKB: 0xffff888001000200, ProbeID: 1}
		e.Blobs[format.BlobCB] = cb
		must(w.WriteEvent(&e))
	}
	must(w.Close())
	f, err := format.NewFile(bytes.NewReader(buf.Bytes()), int64(buf.Len()), nil)
	must(err)
	c := NewCapture(f)
	var out bytes.Buffer
	must(Print(&out, c, &PrintOptions{OutputMeta: true, OutputSkbCB: true}))
	if n := strings.Count(out.String(), "(no skb->cb recorded)"); n != 2 {
		t.Errorf("output says %d times that skb->cb is missing, want 2:\n%s", n, out.String())
	}
	probs := c.Problems()
	want := "read skb->cb: blob 1 holds 4 bytes, not 28 (2 times; shown without it)"
	if len(probs) != 1 || probs[0].Error() != want {
		t.Errorf("problems %q, want [%q]", probs, want)
	}
	if c.Incomplete() {
		t.Error("an unusable blob makes the capture incomplete")
	}
}

// TestUnusableBounded: past 64 distinct messages the rest are counted
// together, never dropped.
func TestUnusableBounded(t *testing.T) {
	c := mustCapture(t, "basic")
	for i := range 70 {
		c.noteUnusable(fmt.Errorf("thing %d", i))
	}
	c.noteUnusable(errors.New("thing 0"))
	probs := c.Problems()
	if len(probs) != 65 {
		t.Fatalf("%d problems, want 64 + 1", len(probs))
	}
	if got, want := probs[0].Error(), "thing 0 (2 times; shown without it)"; got != want {
		t.Errorf("first problem %q, want %q", got, want)
	}
	if got, want := probs[64].Error(), "more recorded data could not be used (6 times; shown without it)"; got != want {
		t.Errorf("last problem %q, want %q", got, want)
	}
}
