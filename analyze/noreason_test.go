package analyze

import (
	"bytes"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/pwru-record/pwru-record/format"
)

// mustReasonCapture writes a capture of one UDP skb that ends in fn
// (kfree_skb: the drop tracepoint; consume_skb: a kprobe), recorded on a
// kernel that lacks lacks.
func mustReasonCapture(tb testing.TB, fn string, lacks []string) *Capture {
	tb.Helper()
	path := filepath.Join(tb.TempDir(), fn+".pwru")
	f, err := os.Create(path)
	if err != nil {
		tb.Fatal(err)
	}
	w, err := format.NewWriter(f, &format.Header{Hostname: "h", Uname: format.Uname{Machine: "x86_64"}, KernelLacks: lacks}, nil)
	if err != nil {
		tb.Fatal(err)
	}
	probes := []format.Probe{
		{ID: 1, Name: "ip_rcv", Kind: format.ProbeKprobe, SKBArg: 1},
		{ID: 2, Name: "consume_skb", Kind: format.ProbeKprobe, SKBArg: 1},
		{ID: 3, Name: "kfree_skb", Kind: format.ProbeTracepoint, SKBArg: 1},
	}
	if err := w.AddProbes(probes); err != nil {
		tb.Fatal(err)
	}
	end := uint32(2)
	if fn == "kfree_skb" {
		end = 3
	}
	tuple := format.Tuple{Src: netip.MustParseAddr("10.0.0.1"), Dst: netip.MustParseAddr("10.0.0.2"), Proto: 17, Sport: 1000, Dport: 53}
	for i, id := range []uint32{1, end} {
		e := format.Event{Time: uint64(1000 + i*1000), SKB: 0xffff888000001000, ProbeID: id, Tuple: tuple, Protocol: 0x0800}
		if err := w.WriteEvent(&e); err != nil {
			tb.Fatal(err)
		}
	}
	if err := w.Close(); err != nil {
		tb.Fatal(err)
	}
	if err := f.Close(); err != nil {
		tb.Fatal(err)
	}
	c, err := Open(path)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { c.Close() })
	return c
}

// TestNoReasonDrop: a drop recorded on a kernel without drop reasons
// reads "dropped (this kernel reports no reason)" in every view, and
// only there.
func TestNoReasonDrop(t *testing.T) {
	const want = "this kernel reports no reason"
	views := []struct {
		name string
		run  func(*bytes.Buffer, *Capture) error
	}{
		{"print", func(b *bytes.Buffer, c *Capture) error { return Print(b, c, &PrintOptions{}) }},
		{"print json", func(b *bytes.Buffer, c *Capture) error { return Print(b, c, &PrintOptions{JSON: true}) }},
		{"paths", func(b *bytes.Buffer, c *Capture) error { return Paths(b, c, nil) }},
		{"stats", func(b *bytes.Buffer, c *Capture) error { return Stats(b, c, nil) }},
		{"info", func(b *bytes.Buffer, c *Capture) error { return Info(b, c, &InfoOptions{}) }},
		{"diff", func(b *bytes.Buffer, c *Capture) error {
			good := mustReasonCapture(t, "consume_skb", c.File.Header().KernelLacks)
			_, err := Diff(b, good, c, nil)
			return err
		}},
	}
	for _, lacks := range [][]string{nil, {format.LackDropReason}} {
		c := mustReasonCapture(t, "kfree_skb", lacks)
		for _, v := range views {
			t.Run(v.name+"/"+strings.Join(lacks, ","), func(t *testing.T) {
				var b bytes.Buffer
				if err := v.run(&b, c); err != nil {
					t.Fatal(err)
				}
				got := strings.Contains(b.String(), want)
				if v.name == "info" {
					// info names what the kernel lacked instead.
					got = strings.Contains(b.String(), "drop-reason (drops carry no reason)")
				}
				if got != (lacks != nil) {
					t.Errorf("mentions the missing reason = %v, want %v:\n%s", got, lacks != nil, b.String())
				}
				if lacks != nil && (v.name == "paths" || v.name == "diff") && !strings.Contains(b.String(), "dropped ("+want+")") {
					t.Errorf("no %q:\n%s", "dropped ("+want+")", b.String())
				}
			})
		}
	}
}
