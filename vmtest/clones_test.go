//go:build vmtest

package vmtest

import (
	"strings"
	"testing"

	"github.com/pwru-record/pwru-record/format"
)

// TestClones: --filter-track-skb with clone tracking by fexit and by the
// forced kprobe+kretprobe fallback. Both recordings follow each datagram
// through DNAT (as TestTrack) and give the clone a packet socket receives
// the datagram's track id: the clone's first event is already tracked
// (found in the tracking map), not a new match of the filter.
func TestClones(t *testing.T) {
	forKernels(t, "clones", func(t *testing.T, c *checkCtx) {
		for _, run := range []struct{ name, mechanism string }{
			{"fexit", "fexit"},
			{"kprobe", "kprobe+kretprobe"},
		} {
			t.Run(run.name, func(t *testing.T) {
				sent := sentOf(c.rep, "udp-"+run.name, 7777)
				requireAnswered(t, sent)
				r := c.rep.Run(run.name)
				if r == nil {
					t.Fatalf("no recorder run %q in the report", run.name)
				}
				if want := "clone tracking via " + run.mechanism + ";"; !strings.Contains(r.Stderr, want) {
					t.Errorf("recorder summary lacks %q:\n%s", want, stderrTail(r.Stderr))
				}
				cp := openCapture(t, c, run.name)
				if n := cp.f.Losses().Other["copy_track_lost"]; n != 0 {
					t.Errorf("copy_track_lost = %d, want 0", n)
				}
				checkTrack(t, cp, sent)
				checkClones(t, cp, len(sent))
			})
		}
	})
}

// checkClones asserts that at least want track ids of datagrams to port
// 7777 have events on a second skb (the clone) whose first event is
// flagged tracked.
func checkClones(t *testing.T, cp *capture, want int) {
	t.Helper()
	type skbKey struct {
		track uint64
		skb   uint64
	}
	first := map[uint64]uint64{}         // track id -> its first skb
	firstEv := map[skbKey]format.Event{} // first event per (track, skb)
	dgram := map[uint64]bool{}           // track ids of datagrams to 7777
	for _, e := range cp.events {
		if e.TrackID == 0 {
			continue
		}
		if _, ok := first[e.TrackID]; !ok {
			first[e.TrackID] = e.SKB
		}
		k := skbKey{e.TrackID, e.SKB}
		if _, ok := firstEv[k]; !ok {
			firstEv[k] = e
		}
		if tupleIs(&e, 17, "", "10.0.0.2", 7777) {
			dgram[e.TrackID] = true
		}
	}
	cloned := 0
	for id := range dgram {
		for k, e := range firstEv {
			if k.track != id || k.skb == first[id] {
				continue
			}
			if e.Flags&format.FlagTracked == 0 {
				t.Errorf("track %d: first event (%s) of skb %#x is not flagged tracked", id, cp.probe(&e), k.skb)
				continue
			}
			cloned++
			break
		}
	}
	t.Logf("%d of %d datagram track ids reach a clone", cloned, len(dgram))
	if cloned < want {
		t.Errorf("%d datagram track ids reach a second skb flagged tracked, want %d (functions: %v)", cloned, want, cp.funcs(cp.events))
	}
}
