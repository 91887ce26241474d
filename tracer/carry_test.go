package tracer

import (
	"bytes"
	"testing"

	"github.com/pwru-record/pwru-record/format"
)

// TestPayloadCarry: the first event of an skb in a new file gets the
// payload the kernel sent in an earlier file; one whose carried payload
// is newer than it (its own was let go of), or over the byte budget,
// gets none and is counted; a freeing probe ends the skb.
func TestPayloadCarry(t *testing.T) {
	const skbA, skbB, skbC = 0xffff888000000100, 0xffff888000000200, 0xffff888000000300
	pA, pB1, pB2, pC := bytes.Repeat([]byte{0xa}, 60), bytes.Repeat([]byte{0xb1}, 60), bytes.Repeat([]byte{0xb2}, 60), bytes.Repeat([]byte{0xc}, 60)
	rec := func(skb uint64, probe uint32, tm uint64, payload []byte) []byte {
		ev := testEvent(skb, probe)
		ev.Time = tm
		return encodeRecord(t, ev, payload)
	}
	var f1, f2 bytes.Buffer
	w1, w2 := newTestWriter(t, &f1), newTestWriter(t, &f2)
	d := newDecoder(w1, map[uint32]bool{9: true})
	d.carry = newPayloadCarry(d.freeing, 130) // room for two payloads
	feed := func(r []byte, decode bool) {
		t.Helper()
		d.carry.note(r)
		if decode {
			if err := d.decode(r); err != nil {
				t.Fatal(err)
			}
		}
	}
	feed(rec(skbA, 1, 10, pA), true)   // file 1: A's payload
	feed(rec(skbB, 1, 11, pB1), false) // B: as if in an evicted chunk
	feed(rec(skbB, 1, 13, pB2), false) // B's bytes change, also let go of
	feed(rec(skbC, 1, 14, pC), true)   // over the budget: not carried
	feed(rec(skbA, 9, 15, nil), false) // A freed ...
	feed(rec(skbA, 1, 16, pA), true)   // ... and a new skb at its address
	if err := w1.Close(); err != nil {
		t.Fatal(err)
	}
	d.reset(w2)
	feed(rec(skbA, 1, 20, nil), true) // file 2: A's payload re-added
	feed(rec(skbA, 1, 21, nil), true) // once
	feed(rec(skbB, 1, 12, nil), true) // B at 12: its payload (11) is gone, 13 is not its
	feed(rec(skbC, 1, 22, nil), true) // C: over the budget
	if err := w2.Close(); err != nil {
		t.Fatal(err)
	}
	if d.carry.missing != 2 {
		t.Errorf("payload_not_carried %d, want 2 (B, C)", d.carry.missing)
	}
	f, err := format.NewFile(bytes.NewReader(f2.Bytes()), int64(f2.Len()), nil)
	if err != nil {
		t.Fatal(err)
	}
	var e format.Event
	it := f.Events(nil)
	var got []string
	for it.Next(&e) {
		s := "none"
		if e.PayloadID != 0 {
			p, err := f.Packet(e.PayloadID)
			if err != nil {
				t.Fatal(err)
			}
			s = string(p.Data[:1])
			if p.Time != 16 {
				t.Errorf("carried packet time %d, want 16 (when the kernel sent it)", p.Time)
			}
		}
		got = append(got, s)
	}
	if want := []string{"none", "\x0a", "\x0a", "none"}; len(got) != 4 || got[1] != want[1] || got[2] != want[2] || got[0] != "none" || got[3] != "none" {
		// Events come in time order: B (12), A (20), A (21), C (22).
		t.Errorf("payloads of file 2's events %q, want %q", got, want)
	}
	if n := f.Summary().Packets; n != 1 {
		t.Errorf("file 2 holds %d packets, want A's once", n)
	}
}
