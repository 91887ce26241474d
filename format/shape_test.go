package format_test

import (
	"testing"

	"github.com/pwru-record/pwru-record/format"
	"github.com/pwru-record/pwru-record/internal/testsupport/fakecapture"
)

// TestChunkShape guards the predictors that make events small: on a
// realistic stream most events must name a recent skb with a small
// move-to-front code and most must need no field at all besides time.
func TestChunkShape(t *testing.T) {
	tests := []struct {
		name          string
		cfg           fakecapture.Config
		maxCodeShare  float64 // share of codes above 8 allowed
		minZeroMasks  float64 // share of events with an empty mask required
		maxRawPerEvnt float64
	}{
		{"default", fakecapture.Config{Seed: 1, SKBs: 1500, PayloadPercent: -1}, 0.05, 0.45, 8},
		{"busy", fakecapture.Config{Seed: 2, SKBs: 1500, Concurrent: 16, PayloadPercent: -1}, 0.6, 0.4, 9},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ev := fakecapture.Generate(tt.cfg).SortedEvents()
			ev = ev[:min(len(ev), 32768)]
			codes, masks, raw, err := format.ChunkStats(ev)
			if err != nil {
				t.Fatal(err)
			}
			far := 0
			for c, n := range codes {
				if c > 8 {
					far += n
				}
			}
			n := float64(len(ev))
			if share := float64(far) / n; share > tt.maxCodeShare {
				t.Errorf("%.2f of events use skb codes above 8, want at most %.2f", share, tt.maxCodeShare)
			}
			if share := float64(masks[0]) / n; share < tt.minZeroMasks {
				t.Errorf("%.2f of events have an empty mask, want at least %.2f", share, tt.minZeroMasks)
			}
			if per := float64(raw) / n; per > tt.maxRawPerEvnt {
				t.Errorf("%.1f raw bytes per event, want at most %.1f", per, tt.maxRawPerEvnt)
			}
		})
	}
}
