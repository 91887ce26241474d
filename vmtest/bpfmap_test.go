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

// TestBPFMap: --output-bpfmap records the map operations of the guest's
// tc program (per datagram: lookup of the destination port in a hash map,
// update with the count, and a delete at the third datagram to port 6001)
// and XDP program (update of a UDP counter in an array map), each tied to
// the skb / xdp_buff the program was running for.
func TestBPFMap(t *testing.T) {
	forKernels(t, "bpfmap", func(t *testing.T, c *checkCtx) {
		const (
			portA, portB = 6001, 6002
			sentA, sentB = 3, 2
			mapName      = "vmt_ports"
			xdpMapName   = "vmt_xdp_udp"
		)
		requireAnswered(t, sentOf(c.rep, "udp", portA))
		requireAnswered(t, sentOf(c.rep, "udp", portB))
		mapID, xdpMapID := uint32(c.rep.Values["map_id"]), uint32(c.rep.Values["xdp_map_id"])
		if mapID == 0 || xdpMapID == 0 {
			t.Fatalf("the guest reported map ids %d and %d", mapID, xdpMapID)
		}
		cp := openCapture(t, c, "main")

		var tcID, xdpID uint32
		var mapProbes int
		var failed []string
		for _, p := range cp.f.Probes() {
			switch {
			case p.Kind == format.ProbeTC && strings.Contains(p.Name, "vmt_tc_count"):
				tcID = p.ID
			case p.Kind == format.ProbeXDP && strings.Contains(p.Name, "vmt_xdp_count"):
				xdpID = p.ID
			case strings.HasSuffix(p.Name, "_elem") && p.SKBArg == 0:
				mapProbes++
				if p.Error != "" {
					failed = append(failed, p.Name+": "+p.Error)
				}
			}
		}
		if tcID == 0 || xdpID == 0 {
			t.Fatalf("probes for the tc program vmt_tc_count: %v, the XDP program vmt_xdp_count: %v", tcID != 0, xdpID != 0)
		}
		t.Logf("%d map function probes, %d failed to attach %q", mapProbes, len(failed), failed[:min(3, len(failed))])
		for _, fn := range []string{"htab_map_update_elem", "htab_map_delete_elem", "array_map_update_elem"} {
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

		// The programs' entry and exit events by skb / xdp_buff, in time
		// order (addresses are reused by later datagrams).
		runs := map[[2]uint64][]format.Event{}
		for _, e := range cp.where(func(e *format.Event) bool { return e.ProbeID == tcID || e.ProbeID == xdpID }) {
			k := [2]uint64{uint64(e.ProbeID), e.SKB}
			runs[k] = append(runs[k], e)
		}
		// run returns the entry and exit of program probe around time t on
		// skb.
		run := func(probe uint32, skb, t uint64) (entry, exit *format.Event) {
			rs := runs[[2]uint64{uint64(probe), skb}]
			for i := range rs {
				r := &rs[i]
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
		var xdpGot []op
		for _, e := range cp.where(func(e *format.Event) bool { return e.Blobs[format.BlobBPFMap] != 0 }) {
			kind, data, err := cp.f.Blob(e.Blobs[format.BlobBPFMap])
			if err != nil || kind != format.BlobBPFMap {
				t.Fatalf("blob %d: kind %d, %v", e.Blobs[format.BlobBPFMap], kind, err)
			}
			a, err := format.ParseBPFMapAccess(data)
			if err != nil {
				t.Fatalf("%s event: %v", cp.probe(&e), err)
			}
			wantName, wantType, prog := mapName, uint32(1), tcID // hash
			if a.ID == xdpMapID {
				wantName, wantType, prog = xdpMapName, 2, xdpID // array
			} else if a.ID != mapID {
				t.Errorf("%s event: map %d %q, want %d %q or %d %q", cp.probe(&e), a.ID, a.Name, mapID, mapName, xdpMapID, xdpMapName)
				continue
			}
			if a.Name != wantName || a.Type != wantType || a.KeySize != 4 || a.ValueSize != 8 || len(a.Key) != 4 || a.KeyTruncated() || a.ValueTruncated() {
				t.Errorf("%s event: map %q type %d, key %d/%d bytes, value size %d; want %q type %d with 4-byte keys and 8-byte values, nothing cut",
					cp.probe(&e), a.Name, a.Type, len(a.Key), a.KeySize, a.ValueSize, wantName, wantType)
				continue
			}
			key := binary.LittleEndian.Uint32(a.Key)
			// Tied to the right skb / xdp_buff: the one the program was
			// running for, a datagram to the port of the key.
			entry, exit := run(prog, e.SKB, e.Time)
			if entry == nil || exit == nil {
				t.Errorf("%s on %s at %d: no run of the program on %#x around it (entry %v, exit %v)",
					a.Op, a.Name, e.Time, e.SKB, entry != nil, exit != nil)
			} else if a.ID == mapID && (entry.Tuple.Dport != uint16(key) || e.Tuple.Dport != uint16(key)) {
				t.Errorf("%s of port %d on skb %#x: event dport %d, the tc program ran for dport %d", a.Op, key, e.SKB, e.Tuple.Dport, entry.Tuple.Dport)
			}
			if (e.Flags&format.FlagXDP != 0) != (a.ID == xdpMapID) {
				t.Errorf("%s on %s: event flags %#x, want the XDP flag exactly for the XDP program's map", a.Op, a.Name, e.Flags)
			}
			o := op{op: a.Op, found: a.Flags&format.BPFMapNotFound == 0 && a.Op != format.BPFMapDelete}
			if o.found {
				if len(a.Value) != 8 {
					t.Errorf("%s on %s: %d value bytes, want 8", a.Op, a.Name, len(a.Value))
					continue
				}
				o.value = binary.LittleEndian.Uint64(a.Value)
			}
			if a.ID == xdpMapID {
				if key != 0 {
					t.Errorf("%s on %s: key %d, want 0", a.Op, a.Name, key)
				}
				xdpGot = append(xdpGot, o)
				continue
			}
			got[uint16(key)] = append(got[uint16(key)], o)
		}
		// tc: lookup (miss, then the previous count), update with the new
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
		// XDP: the array lookup is inlined by the verifier (not seen); one
		// update per datagram with the running count.
		var xdpWant []op
		for i := 1; i <= sentA+sentB; i++ {
			xdpWant = append(xdpWant, op{op: format.BPFMapUpdate, found: true, value: uint64(i)})
		}
		if fmt.Sprint(xdpGot) != fmt.Sprint(xdpWant) || c.rep.Values["xdp_udp"] != uint64(sentA+sentB) {
			t.Errorf("XDP map operations (op found value), guest counter %d:\n got %v\nwant %v", c.rep.Values["xdp_udp"], xdpGot, xdpWant)
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
