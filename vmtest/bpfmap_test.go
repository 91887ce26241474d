//go:build vmtest

package vmtest

import (
	"encoding/binary"
	"fmt"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/pwru-record/pwru-record/format"
)

// TestBPFMap: --output-bpfmap records the guest tc program's hash map
// operations (per packet: lookup of the destination port, update with the
// count, and a delete at the third packet to port 6001), each tied to the
// skb the program was running for.
func TestBPFMap(t *testing.T) {
	forKernels(t, "bpfmap", func(t *testing.T, c *checkCtx) {
		const (
			portA, portB = 6001, 6002
			sentA, sentB = 3, 2
			mapName      = "vmt_ports"
		)
		requireAnswered(t, sentOf(c.rep, "udp", portA))
		requireAnswered(t, sentOf(c.rep, "udp", portB))
		mapID := uint32(c.rep.Values["map_id"])
		if mapID == 0 {
			t.Fatal("the guest reported no map id")
		}
		cp := openCapture(t, c, "main")

		var tcID uint32
		for _, p := range cp.f.Probes() {
			if p.Kind == format.ProbeTC && strings.Contains(p.Name, "vmt_tc_count") {
				tcID = p.ID
			}
		}
		if tcID == 0 {
			t.Fatal("no probe for the tc program vmt_tc_count")
		}
		var mapProbes int
		var failed []string
		for _, p := range cp.f.Probes() {
			if strings.HasSuffix(p.Name, "_elem") && p.SKBArg == 0 {
				mapProbes++
				if p.Error != "" {
					failed = append(failed, p.Name+": "+p.Error)
				}
			}
		}
		t.Logf("%d map function probes, %d failed to attach %q", mapProbes, len(failed), failed[:min(3, len(failed))])
		for _, fn := range []string{"htab_map_update_elem", "htab_map_delete_elem"} {
			var found bool
			for _, p := range cp.f.Probes() {
				if p.Name == fn {
					found = true
					if p.Error != "" {
						t.Errorf("map probe %s failed to attach: %s", fn, p.Error)
					}
				}
			}
			if !found {
				t.Errorf("no probe on %s", fn)
			}
		}

		// The tc program's entry and exit events by skb, in time order
		// (skb addresses are reused by later datagrams).
		runs := map[uint64][]format.Event{}
		for _, e := range cp.where(func(e *format.Event) bool { return e.ProbeID == tcID }) {
			runs[e.SKB] = append(runs[e.SKB], e)
		}
		// run returns the tc program's entry and exit around time t on skb.
		run := func(skb, t uint64) (entry, exit *format.Event) {
			for i := range runs[skb] {
				r := &runs[skb][i]
				switch {
				case r.Flags&format.FlagExit == 0 && r.Time <= t:
					entry, exit = r, nil
				case r.Flags&format.FlagExit != 0 && r.Time >= t && exit == nil && entry != nil:
					exit = r
				}
			}
			return entry, exit
		}
		type op struct {
			op    format.BPFMapOp
			found bool
			value uint64
		}
		got := map[uint16][]op{}
		for _, e := range cp.where(func(e *format.Event) bool { return e.Blobs[format.BlobBPFMap] != 0 }) {
			kind, data, err := cp.f.Blob(e.Blobs[format.BlobBPFMap])
			if err != nil || kind != format.BlobBPFMap {
				t.Fatalf("blob %d: kind %d, %v", e.Blobs[format.BlobBPFMap], kind, err)
			}
			a, err := format.ParseBPFMapAccess(data)
			if err != nil {
				t.Fatalf("%s event: %v", cp.probe(&e), err)
			}
			if a.ID != mapID || a.Name != mapName {
				t.Errorf("%s event: map %d %q, want %d %q", cp.probe(&e), a.ID, a.Name, mapID, mapName)
				continue
			}
			if a.Type != 1 || a.KeySize != 4 || a.ValueSize != 8 || len(a.Key) != 4 || a.KeyTruncated() || a.ValueTruncated() {
				t.Errorf("%s event: type %d, key %d/%d bytes, value size %d; want a hash map with 4-byte keys and 8-byte values, nothing cut",
					cp.probe(&e), a.Type, len(a.Key), a.KeySize, a.ValueSize)
				continue
			}
			port := binary.LittleEndian.Uint32(a.Key)
			// Tied to the right skb: the datagram to that port that the
			// tc program was running for.
			entry, exit := run(e.SKB, e.Time)
			if entry == nil || exit == nil {
				t.Errorf("%s of port %d on skb %#x at %d: no run of the tc program on that skb around it (entry %v, exit %v)",
					a.Op, port, e.SKB, e.Time, entry != nil, exit != nil)
			} else if entry.Tuple.Dport != uint16(port) || e.Tuple.Dport != uint16(port) {
				t.Errorf("%s of port %d on skb %#x: event dport %d, the tc program ran for dport %d", a.Op, port, e.SKB, e.Tuple.Dport, entry.Tuple.Dport)
			}
			o := op{op: a.Op, found: a.Flags&format.BPFMapNotFound == 0 && a.Op != format.BPFMapDelete}
			if o.found {
				if len(a.Value) != 8 {
					t.Errorf("%s of port %d: %d value bytes, want 8", a.Op, port, len(a.Value))
					continue
				}
				o.value = binary.LittleEndian.Uint64(a.Value)
			}
			got[uint16(port)] = append(got[uint16(port)], o)
		}
		// lookup (miss, then the previous count), update with the new
		// count, for every datagram; delete after the third to port A.
		want := func(n int, del bool) []op {
			var ops []op
			for i := 1; i <= n; i++ {
				ops = append(ops, op{op: format.BPFMapLookup, found: i > 1, value: uint64(i - 1)},
					op{op: format.BPFMapUpdate, found: true, value: uint64(i)})
			}
			if del {
				ops = append(ops, op{op: format.BPFMapDelete})
			}
			return ops
		}
		for _, w := range []struct {
			port uint16
			ops  []op
		}{{portA, want(sentA, true)}, {portB, want(sentB, false)}} {
			if fmt.Sprint(got[w.port]) != fmt.Sprint(w.ops) {
				t.Errorf("map operations on port %d (op found value):\n got %v\nwant %v", w.port, got[w.port], w.ops)
			}
		}
		if n := c.rep.Values[fmt.Sprintf("count_%d", portB)]; n != sentB {
			t.Errorf("guest map holds %d for port %d, want %d", n, portB, sentB)
		}

		// The analyzer renders them as pwru does.
		out, err := exec.Command(bins["pwru-replay"], "print", "--func", "^htab_map_update_elem$", filepath.Join(c.dir, "main.pwru")).CombinedOutput()
		if err != nil {
			t.Fatalf("pwru-replay print: %v\n%s", err, out)
		}
		for _, re := range []string{
			`\bhtab_map_update_elem\b`,
			fmt.Sprintf(`(?m)^map_id: %d$`, mapID),
			`(?m)^map_name: ` + mapName + `$`,
			`(?m)^key\(4\):\n00000000  71 17 00 00 `, // port 6001
			`(?m)^value\(8\):\n00000000  03 00 00 00 00 00 00 00 `,
		} {
			if !regexp.MustCompile(re).Match(out) {
				t.Errorf("pwru-replay print: no match for %s in:\n%s", re, head(out, 60))
			}
		}
	})
}
