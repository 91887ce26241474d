package analyze

import (
	"github.com/pwru-record/pwru-record/internal/testsupport/fakecapture"
	"github.com/pwru-record/pwru-record/internal/testsupport/packets"

	"bytes"
	"os"
	"path/filepath"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// mustBuiltCapture writes a capture made by build (cut to keep bytes when
// keep > 0, as a killed recorder leaves it) and opens it.
func mustBuiltCapture(tb testing.TB, name string, keep float64, build func(b *fakecapture.Builder)) *Capture {
	tb.Helper()
	var buf bytes.Buffer
	b, err := fakecapture.NewBuilder(&buf, 4)
	if err != nil {
		tb.Fatal(err)
	}
	build(b)
	if err := b.Close(); err != nil {
		tb.Fatal(err)
	}
	data := buf.Bytes()
	if keep > 0 {
		data = data[:int(float64(len(data))*keep)]
	}
	path := filepath.Join(tb.TempDir(), name+".pwru")
	if err := os.WriteFile(path, data, 0o644); err != nil {
		tb.Fatal(err)
	}
	c, err := Open(path)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { c.Close() })
	return c
}

// udpRun sends n UDP datagrams to a socket, IPv4 IDs from id on (they
// differ between runs), with a TCP segment after each.
func udpRun(n int, id uint16) func(b *fakecapture.Builder) {
	return func(b *fakecapture.Builder) {
		addr := uint64(0xffff888020000000)
		for i := range n {
			udp := packets.Ethernet(packets.IPv4("10.0.0.1", "10.0.0.2", 17, id+uint16(i), packets.UDP(5000, 9000, []byte{byte(i)})))
			addr += 0x100
			u := b.NewSKB(addr, 0, fakecapture.RootNS, 2, udp)
			u.Hit(10_000, "__netif_receive_skb_core")
			u.Hit(1000, "ip_rcv")
			u.Hit(1000, "udp_rcv")
			u.Hit(1000, "consume_skb")
			u.Hit(100, "kfree_skbmem")
			tcp := packets.Ethernet(packets.IPv4("10.0.0.1", "10.0.0.2", 6, 0x40+uint16(i), packets.TCP(40001, 80, 1000+uint32(i)*100, 1, 0x18, []byte("x"))))
			addr += 0x100
			s := b.NewSKB(addr, 0, fakecapture.RootNS, 2, tcp)
			s.Hit(10_000, "__netif_receive_skb_core")
			s.Hit(1000, "ip_rcv")
			s.Hit(1000, "tcp_v4_rcv")
			s.Hit(1000, "consume_skb")
			s.Hit(100, "kfree_skbmem")
		}
	}
}

func TestDiffEdgeCases(t *testing.T) {
	good := mustCapture(t, "good")
	empty := mustBuiltCapture(t, "empty", 0, func(*fakecapture.Builder) {})
	udpGood := mustBuiltCapture(t, "udp-good", 0, udpRun(40, 0x100))
	udpBad := mustBuiltCapture(t, "udp-bad", 0, udpRun(40, 0x900))
	// The recorder was killed: the file ends in the middle of the events.
	udpKilled := mustBuiltCapture(t, "udp-killed", 0.6, udpRun(40, 0x100))
	killedPackets := 0
	{
		r, err := CompareCaptures(udpKilled, udpKilled, &DiffOptions{})
		if err != nil {
			t.Fatal(err)
		}
		killedPackets = r.Summary.GoodPackets
		if killedPackets == 0 || killedPackets >= 80 {
			t.Fatalf("the cut capture holds %d packets, want some of 80", killedPackets)
		}
	}
	tests := []struct {
		name      string
		a, b      *Capture
		want      DiffSummary
		different bool
	}{
		{
			name: "empty good capture", a: empty, b: good, different: true,
			want: DiffSummary{Flows: 3, FlowsDiffer: 3, BadPackets: 12, OnlyBad: 12},
		},
		{
			name: "empty bad capture", a: good, b: empty, different: true,
			want: DiffSummary{Flows: 3, FlowsDiffer: 3, GoodPackets: 12, OnlyGood: 12},
		},
		{
			name: "both empty", a: empty, b: empty,
			want: DiffSummary{Same: true},
		},
		{
			name: "flows only in one capture", a: good, b: udpGood, different: true,
			want: DiffSummary{Flows: 5, FlowsDiffer: 5, GoodPackets: 12, BadPackets: 80, OnlyGood: 12, OnlyBad: 80},
		},
		{
			// UDP datagrams pair by their order in the flow, TCP
			// segments by sequence number.
			name: "UDP IPv4 IDs differ between runs", a: udpGood, b: udpBad,
			want: DiffSummary{Same: true, Flows: 2, GoodPackets: 80, BadPackets: 80, Matched: 80, SamePath: 80, MatchedByID: 40, MatchedByOrd: 40},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r, err := CompareCaptures(tt.a, tt.b, &DiffOptions{})
			if err != nil {
				t.Fatal(err)
			}
			if d := cmp.Diff(tt.want, r.Summary); d != "" {
				t.Errorf("summary (-want +got):\n%s", d)
			}
			var buf bytes.Buffer
			different, err := Diff(&buf, tt.a, tt.b, nil)
			if err != nil {
				t.Fatal(err)
			}
			if different != tt.different {
				t.Errorf("Diff() = %v, want %v; output:\n%s", different, tt.different, buf.String())
			}
		})
	}
	t.Run("bad recorder killed", func(t *testing.T) {
		r, err := CompareCaptures(udpGood, udpKilled, &DiffOptions{})
		if err != nil {
			t.Fatal(err)
		}
		// The last skb of the cut capture may lack its last functions:
		// that pair diverges.
		got := r.Summary
		want := DiffSummary{Flows: 2, FlowsDiffer: 2, GoodPackets: 80, BadPackets: killedPackets,
			Matched: killedPackets, SamePath: killedPackets - got.Diverged, Diverged: got.Diverged,
			MatchedByID: killedPackets, OnlyGood: 80 - killedPackets}
		if d := cmp.Diff(want, got); d != "" || got.Diverged > 1 {
			t.Errorf("summary (-want +got):\n%s", d)
		}
	})
}

// TestDiffError: an error of either capture's reader ends the diff with
// that error (and both readers stop).
func TestDiffError(t *testing.T) {
	good := mustCapture(t, "good")
	big := mustBuiltCapture(t, "udp", 0, udpRun(200, 1))
	// A capture whose events are damaged half way through.
	damaged := mustBuiltCapture(t, "damaged", 0, udpRun(200, 1))
	raw, err := os.ReadFile(damaged.Path)
	if err != nil {
		t.Fatal(err)
	}
	for i := len(raw) / 2; i < len(raw)/2+64; i++ {
		raw[i] ^= 0x5a
	}
	if err := os.WriteFile(damaged.Path, raw, 0o644); err != nil {
		t.Fatal(err)
	}
	damaged, err = Open(damaged.Path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { damaged.Close() })
	tests := []struct {
		name string
		a, b *Capture
		o    DiffOptions
	}{
		{"bad --filter-func", good, good, DiffOptions{Filter: Filter{Func: "("}}},
		{"damaged good", damaged, big, DiffOptions{}},
		{"damaged bad", big, damaged, DiffOptions{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r, err := CompareCaptures(tt.a, tt.b, &tt.o)
			if err == nil {
				t.Fatalf("no error; summary %+v", r.Summary)
			}
			t.Log(err)
		})
	}
}

// TestDiffDeterministic: the two readers race, the report does not.
func TestDiffDeterministic(t *testing.T) {
	good, bad := mustDiffMemCapture(t, 40_000, false), mustDiffMemCapture(t, 40_000, true)
	var first []byte
	for i := range 4 {
		var buf bytes.Buffer
		if _, err := Diff(&buf, good, bad, &DiffOptions{JSON: true}); err != nil {
			t.Fatal(err)
		}
		if i == 0 {
			first = buf.Bytes()
			continue
		}
		if d := cmp.Diff(string(first), buf.String()); d != "" {
			t.Fatalf("run %d differs from the first (-first +run):\n%s", i, d)
		}
	}
	if !bytes.Contains(first, []byte(`"divergences"`)) {
		t.Errorf("no divergence in the report: the captures do not exercise the aggregation")
	}
}
