package tracer

import (
	"testing"
	"time"
)

// TestMissesDue: the idle tick rereads the recursion misses of many
// programs only when they are stale; every exact read and every read of
// few programs rereads them.
func TestMissesDue(t *testing.T) {
	now := time.Unix(1000, 0)
	for _, tc := range []struct {
		name     string
		periodic bool
		n        int
		since    time.Duration // time since the last read; 0 = never read
		want     bool
	}{
		{"exact read, many programs, fresh", false, 1610, time.Millisecond, true},
		{"tick, few programs, fresh", true, missesEveryTick, time.Millisecond, true},
		{"tick, many programs, never read", true, 1610, 0, true},
		{"tick, many programs, fresh", true, 1610, missesStale - time.Millisecond, false},
		{"tick, many programs, stale", true, 1610, missesStale, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var at time.Time
			if tc.since != 0 {
				at = now.Add(-tc.since)
			}
			if got := missesDue(tc.periodic, tc.n, at, now); got != tc.want {
				t.Errorf("missesDue(%v, %d, %v ago) = %v, want %v", tc.periodic, tc.n, tc.since, got, tc.want)
			}
		})
	}
}
