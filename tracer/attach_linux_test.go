package tracer

import (
	"context"
	"errors"
	"slices"
	"sync/atomic"
	"testing"

	"github.com/cilium/ebpf/link"
	"github.com/google/go-cmp/cmp"

	"github.com/pwru-record/pwru-record/format"
)

// stubLink stands for an attached probe; only Close is called.
type stubLink struct{ link.Link }

func (stubLink) Close() error { return nil }

func probeErrors(ps []format.Probe) []string {
	out := make([]string, len(ps))
	for i, p := range ps {
		out[i] = p.Error
	}
	return out
}

// TestAttachBatched: batches of KprobeBatch, probes that failed before
// skipped, failures kept, and no batch started once ctx is done.
func TestAttachBatched(t *testing.T) {
	probes := make([]format.Probe, 7)
	probes[2].Error = "earlier"
	s := &session{cfg: &Config{KprobeBatch: 3}}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var calls atomic.Int32
	var done []int
	s.attachBatched(ctx, probes, []int{0, 1, 2, 3, 4, 5, 6}, func(i int) (link.Link, error) {
		if calls.Add(1) == 3 { // in the second batch: it completes, no third starts
			cancel()
		}
		if i == 4 {
			return nil, errors.New("refused")
		}
		return stubLink{}, nil
	}, func(n int) { done = append(done, n) })
	want := []string{"", "", "earlier", "", "refused", "", errInterrupted}
	if diff := cmp.Diff(want, probeErrors(probes)); diff != "" {
		t.Errorf("probe errors (-want +got):\n%s", diff)
	}
	if len(s.links) != 4 || calls.Load() != 5 {
		t.Errorf("%d links from %d attaches, want 4 from 5", len(s.links), calls.Load())
	}
	if !slices.Equal(done, []int{3, 3}) {
		t.Errorf("progress %v, want [3 3]", done)
	}
}

// TestAttachHalving: a multi-link that fails is split until the failing
// probe is alone; the others attach in the largest groups possible.
func TestAttachHalving(t *testing.T) {
	probes := make([]format.Probe, 8)
	probes[7].Error = "earlier"
	s := &session{cfg: &Config{}}
	var sizes []int
	settled := 0
	s.attachHalving(probes, []int{0, 1, 2, 3, 4, 5, 6, 7}, func(part []int) (link.Link, error) {
		if slices.Contains(part, 7) {
			t.Fatal("a probe that failed before was tried")
		}
		if slices.Contains(part, 5) {
			return nil, errors.New("refused")
		}
		sizes = append(sizes, len(part))
		return stubLink{}, nil
	}, func(n int) { settled += n })
	want := []string{"", "", "", "", "", "refused", "", "earlier"}
	if diff := cmp.Diff(want, probeErrors(probes)); diff != "" {
		t.Errorf("probe errors (-want +got):\n%s", diff)
	}
	// 0..6 -> 0..2 ok, 3..6 -> 3,4 ok, 5,6 -> 5 fails, 6 ok.
	if !slices.Equal(sizes, []int{3, 2, 1}) || len(s.links) != 3 || settled != 7 {
		t.Errorf("links of sizes %v (%d), %d settled; want [3 2 1], 7", sizes, len(s.links), settled)
	}
}
