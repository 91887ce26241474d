package analyze

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// sliceTo writes a slice of c to a file and opens it.
func sliceTo(t *testing.T, c *Capture, o *SliceOptions) (*Capture, *SliceStats) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "slice.pwru")
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	st, err := Slice(f, c, o)
	if err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	out, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { out.Close() })
	return out, st
}

func printString(t *testing.T, c *Capture, o PrintOptions) string {
	t.Helper()
	var buf bytes.Buffer
	if err := Print(&buf, c, &o); err != nil {
		t.Fatal(err)
	}
	return buf.String()
}

func TestSlice(t *testing.T) {
	c := mustCapture(t, "basic")
	full := PrintOptions{OutputMeta: true, OutputTuple: true, OutputStack: true, OutputCaller: true, OutputSkb: true, OutputShinfo: true, OutputSkbCB: true, Timestamp: TimestampCurrent}
	tests := []struct {
		name   string
		opts   SliceOptions
		want   SliceStats
		filter Filter // the same selection expressed on the original
	}{
		{"all", SliceOptions{}, SliceStats{Events: 41, SKBs: 6, Packets: 5, Stacks: 1, Blobs: 3, Symbols: 20}, Filter{}},
		{"dropped", SliceOptions{Filter: Filter{Dropped: true}}, SliceStats{Events: 13, SKBs: 2, Packets: 2, Stacks: 1, Symbols: 20}, Filter{Dropped: true}},
		{"trim", SliceOptions{Filter: Filter{Func: "netif_receive|kfree_skb_reason"}, TrimSymbols: true},
			// The 8 events that end the 5 skbs (consume, free) are kept too.
			SliceStats{Events: 15, SKBs: 5, Packets: 5, Stacks: 1, Blobs: 3, Symbols: 6, FateEvents: 8}, Filter{Func: "netif_receive|kfree_skb_reason"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out, st := sliceTo(t, c, &tt.opts)
			if diff := cmp.Diff(tt.want, *st); diff != "" {
				t.Errorf("slice stats (-want +got):\n%s", diff)
			}
			// What the slice cannot show (no blobs kept) is left out of
			// both prints.
			shown := full
			MissingData(out, &shown)
			want := shown
			want.Filter = tt.filter
			if diff := cmp.Diff(printString(t, c, want), printString(t, out, want)); diff != "" {
				t.Errorf("print of the slice differs from the filtered original (-want +got):\n%s", diff)
			}
		})
	}
}

func TestSliceNoPayload(t *testing.T) {
	c := mustCapture(t, "basic")
	out, st := sliceTo(t, c, &SliceOptions{NoPayload: true, Filter: Filter{Reason: "NO_SOCKET"}})
	if st.Packets != 0 || st.Events != 7 {
		t.Errorf("slice stats = %+v, want 7 events and no packets", *st)
	}
	if n := out.File.Summary().Packets; n != 0 {
		t.Errorf("slice holds %d packets, want 0", n)
	}
	if n := out.File.Losses().Other["sliced_out_events"]; n != 34 {
		t.Errorf("sliced_out_events = %d, want 34", n)
	}
}
