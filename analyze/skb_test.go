package analyze

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/pwru-record/pwru-record/analyze/analyzetest"
	"github.com/pwru-record/pwru-record/format"
)

// TestTrackerMemoryBounded streams a capture of many skbs and checks that
// the tracker's state follows the skbs in flight, not the capture size.
func TestTrackerMemoryBounded(t *testing.T) {
	path := filepath.Join(t.TempDir(), "big.pwru")
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := analyzetest.Large(f, 20000); err != nil {
		t.Fatal(err)
	}
	f.Close()
	c, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()

	ended := 0
	tr := newTracker(c, 0, func(*life) { ended++ })
	it := c.File.Events(nil)
	var e format.Event
	for it.Next(&e) {
		tr.observe(&e)
	}
	if err := it.Err(); err != nil {
		t.Fatal(err)
	}
	tr.flush()
	if ended != 20000 {
		t.Errorf("%d skb lifetimes ended, want the 20000 generated", ended)
	}
	// 6 skbs in flight; each ends at its kfree_skbmem, so the state never
	// grows with the capture (20000 skbs, addresses reused after 4096).
	if tr.maxLive > 16 {
		t.Errorf("tracker held %d live skbs at once; want it bounded by the skbs in flight", tr.maxLive)
	}
	t.Logf("%d lifetimes, at most %d live at once", ended, tr.maxLive)
}
