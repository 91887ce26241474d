package analyze

import (
	"os"
	"path/filepath"
	"testing"
	"unsafe"

	"github.com/pwru-record/pwru-record/format"
	"github.com/pwru-record/pwru-record/internal/testsupport/fakecapture"
)

// TestTrackerMemoryBounded streams a capture of many skbs and checks that
// the tracker's state follows the skbs in flight, not the capture size.
func TestTrackerMemoryBounded(t *testing.T) {
	path := filepath.Join(t.TempDir(), "big.pwru")
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := fakecapture.Large(f, 20000); err != nil {
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

// TestTrackerFate walks one skb through functions and checks the fate the
// tracker decides from what the kernel did with it.
func TestTrackerFate(t *testing.T) {
	names := []string{"ip_rcv", "udp_queue_rcv_skb", "__udp_enqueue_schedule_skb", "sock_queue_rcv_skb",
		"tcp_queue_rcv", "skb_release_data", "kfree_skbmem", "__kfree_skb", "skb_consume_udp",
		"consume_skb", "kfree_skb_reason", "tcp_v4_rcv", "skb_attempt_defer_free", "skb_release_head_state",
		"napi_skb_cache_put", "udp_send_skb", "ip_output"}
	c := &Capture{reasons: map[uint32]string{3: "NO_SOCKET", 1: "SKB_CONSUMED"}, reasonsOK: true}
	c.probes = make([]*format.Probe, len(names)+1)
	ids := map[string]uint32{}
	for i, n := range names {
		c.probes[i+1] = &format.Probe{ID: uint32(i + 1), Name: n}
		ids[n] = uint32(i + 1)
	}
	tests := []struct {
		name  string
		funcs []string // "kfree_skb_reason" carries NO_SOCKET
		want  Fate
		next  int // lifetimes after the first (the address reused)
	}{
		{"udp queued then freed", []string{"ip_rcv", "udp_queue_rcv_skb", "__udp_enqueue_schedule_skb", "skb_release_data", "kfree_skbmem"}, FateDelivered, 0},
		{"udp read with skb_consume_udp", []string{"ip_rcv", "__udp_enqueue_schedule_skb", "skb_consume_udp", "kfree_skbmem"}, FateDelivered, 0},
		{"udp queued, capture ends", []string{"ip_rcv", "__udp_enqueue_schedule_skb"}, FateDelivered, 0},
		{"raw socket queue", []string{"ip_rcv", "sock_queue_rcv_skb", "kfree_skbmem"}, FateDelivered, 0},
		{"tcp data queued", []string{"tcp_v4_rcv", "tcp_queue_rcv", "__kfree_skb"}, FateDelivered, 0},
		{"udp receive queue full", []string{"ip_rcv", "__udp_enqueue_schedule_skb", "kfree_skb_reason", "kfree_skbmem"}, FateDropped, 0},
		{"freed without a socket", []string{"ip_rcv", "udp_queue_rcv_skb", "skb_release_data", "kfree_skbmem"}, FateFreed, 0},
		{"tcp_v4_rcv alone is no delivery", []string{"tcp_v4_rcv", "__kfree_skb"}, FateFreed, 0},
		{"consumed", []string{"ip_rcv", "consume_skb", "kfree_skbmem"}, FateDelivered, 0},
		{"no fate", []string{"ip_rcv", "udp_queue_rcv_skb"}, FateUnknown, 0},
		{"freed into the skb cache", []string{"ip_rcv", "udp_queue_rcv_skb", "skb_release_data", "napi_skb_cache_put", "ip_output"}, FateFreed, 1},
		// 7.2: a read datagram's skb goes back to the per-CPU cache, no
		// kfree_skbmem; the next datagram sent reuses the address.
		{"udp read, put back into the skb cache", []string{"ip_rcv", "__udp_enqueue_schedule_skb", "skb_consume_udp",
			"skb_attempt_defer_free", "skb_release_head_state", "skb_release_data", "napi_skb_cache_put",
			"udp_send_skb", "ip_output"}, FateDelivered, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var got []Fate
			tr := newTracker(c, 0, func(l *life) { got = append(got, l.fate) })
			for i, fn := range tt.funcs {
				e := format.Event{Time: uint64(i+1) * 1000, SKB: 0xffff888001000200, ProbeID: ids[fn]}
				if fn == "kfree_skb_reason" {
					e.Flags |= format.FlagDropReason
					e.DropReason = 3
				}
				tr.observe(&e)
			}
			tr.flush()
			if len(got) != 1+tt.next || got[0] != tt.want {
				t.Errorf("fates %v, want %v and %d more lifetimes", got, tt.want, tt.next)
			}
		})
	}
}

// TestLifeLayout checks that the fields every event touches share the
// first cache line of a lifetime and that lifetimes fill whole lines.
func TestLifeLayout(t *testing.T) {
	var l life
	if sz := unsafe.Sizeof(l); sz%64 != 0 {
		t.Errorf("life is %d bytes, not a multiple of 64", sz)
	}
	hot := []struct {
		name string
		end  uintptr
	}{
		{"addr", unsafe.Offsetof(l.addr) + unsafe.Sizeof(l.addr)},
		{"last", unsafe.Offsetof(l.last) + unsafe.Sizeof(l.last)},
		{"gen", unsafe.Offsetof(l.gen) + unsafe.Sizeof(l.gen)},
		{"track", unsafe.Offsetof(l.track) + unsafe.Sizeof(l.track)},
		{"selLast", unsafe.Offsetof(l.selLast) + unsafe.Sizeof(l.selLast)},
		{"prevSel", unsafe.Offsetof(l.prevSel) + unsafe.Sizeof(l.prevSel)},
		{"events", unsafe.Offsetof(l.events) + unsafe.Sizeof(l.events)},
		{"sel", unsafe.Offsetof(l.sel) + unsafe.Sizeof(l.sel)},
		{"fate", unsafe.Offsetof(l.fate) + unsafe.Sizeof(l.fate)},
		{"dead", unsafe.Offsetof(l.dead) + unsafe.Sizeof(l.dead)},
		{"queued", unsafe.Offsetof(l.queued) + unsafe.Sizeof(l.queued)},
	}
	for _, f := range hot {
		if f.end > 64 {
			t.Errorf("life.%s ends at byte %d, past the first cache line", f.name, f.end)
		}
	}
}
