package analyze

import (
	"bytes"
	"encoding/binary"
	"path/filepath"
	"testing"

	"github.com/pwru-record/pwru-record/analyze/analyzetest"
	"github.com/pwru-record/pwru-record/format"
)

// mustExtrasCapture writes a capture recorded with
// --output-skb-metadata metaOption (e.g. 'skb->hash,skb->dev->ifindex'),
// --output-xdp-metadata xdpOption and tc, XDP and fexit probes: events
// with metadata, BPF map bytes and return values.
func mustExtrasCapture(tb testing.TB, metaOption, xdpOption string) *Capture {
	tb.Helper()
	path := filepath.Join(tb.TempDir(), "extras.pwru")
	var buf bytes.Buffer
	h := &format.Header{
		WriterVersion: "pwru-record analyzetest",
		Hostname:      "testhost",
		Uname:         format.Uname{Sysname: "Linux", Release: "6.12.0-test-amd64", Machine: "x86_64"},
		Start:         analyzetest.Start(),
		MonoOffset:    analyzetest.Start().UnixNano() - analyzetest.T0,
		Options: map[string]string{"output-skb-metadata": metaOption, "output-xdp-metadata": xdpOption,
			"filter-trace-tc": "true", "filter-trace-xdp": "true"},
	}
	w, err := format.NewWriter(&buf, h, &format.WriterOptions{FlushInterval: -1})
	if err != nil {
		tb.Fatal(err)
	}
	probes := []format.Probe{
		{ID: 1, Name: "ip_rcv", Kind: format.ProbeKprobeMulti, SKBArg: 1},
		{ID: 2, Name: "cil_from_container", Kind: format.ProbeTC, SKBArg: 1, ProgID: 42},
		{ID: 3, Name: "xdp_fw", Kind: format.ProbeXDP, ProgID: 43},
		{ID: 4, Name: "ip_finish_output2", Kind: format.ProbeFexit, SKBArg: 3},
		{ID: 5, Name: "__htab_map_lookup_elem", Kind: format.ProbeKprobeMulti},
		{ID: 6, Name: "htab_map_update_elem", Kind: format.ProbeKprobeMulti},
		{ID: 7, Name: "htab_map_delete_elem", Kind: format.ProbeKprobeMulti},
	}
	must := func(err error) {
		tb.Helper()
		if err != nil {
			tb.Fatal(err)
		}
	}
	must(w.AddProbes(probes))
	blob := func(kind int, vals ...uint64) uint32 {
		b := make([]byte, 8*len(vals))
		for i, v := range vals {
			binary.LittleEndian.PutUint64(b[8*i:], v)
		}
		id, err := w.AddBlob(kind, b)
		must(err)
		return id
	}
	m1 := blob(format.BlobMeta, 0x9e3779b9, 4)
	m2 := blob(format.BlobMeta, 0x1234, 7, 0xff) // one value more than the option names
	x1 := blob(format.BlobXDPMeta, 3, 1500)
	x2 := blob(format.BlobXDPMeta, 3, 1500, 0x2a) // one value more than the option names
	// A blob too short for its header: shown as hex with the reason.
	bm, err := w.AddBlob(format.BlobBPFMap, []byte{10, 0, 0, 2, 1, 0, 0, 0, 0xaa})
	must(err)
	access := func(a format.BPFMapAccess) uint32 {
		if a.Name == "" {
			a.ID, a.Name, a.Type, a.KeySize, a.ValueSize = 12, "vmt_ports", 1, 4, 8
			a.Key = []byte{0x71, 0x17, 0, 0}
		}
		id, err := w.AddBlob(format.BlobBPFMap, format.AppendBPFMapAccess(nil, &a))
		must(err)
		return id
	}
	lookupMiss := access(format.BPFMapAccess{Op: format.BPFMapLookup, Flags: format.BPFMapNotFound})
	update := access(format.BPFMapAccess{Op: format.BPFMapUpdate, Value: []byte{1, 0, 0, 0, 0, 0, 0, 0}})
	lookupHit := access(format.BPFMapAccess{Op: format.BPFMapLookup, Value: []byte{1, 0, 0, 0, 0, 0, 0, 0}})
	del := access(format.BPFMapAccess{Op: format.BPFMapDelete})
	big := access(format.BPFMapAccess{ID: 13, Name: "big_keys", Type: 9, KeySize: 200, ValueSize: 300, Op: format.BPFMapUpdate,
		UpdateFlags: 1, Key: bytes.Repeat([]byte{0xab}, 128), Value: []byte("the first bytes of a long value")})
	percpu := access(format.BPFMapAccess{ID: 14, Name: "pcpu", Type: 5, KeySize: 4, ValueSize: 8, Op: format.BPFMapLookup,
		Flags: format.BPFMapValuePerCPU | format.BPFMapKeyError})
	t := uint64(analyzetest.T0)
	ev := func(probe uint32, flags format.EventFlags, retval int64, mod func(*format.Event)) {
		t += 1000
		e := format.Event{Time: t, SKB: 0xffff888001000200, ProbeID: probe, Comm: "ping", PID: 7, Netns: 4026531840,
			Ifindex: 2, Len: 84, MTU: 1500, Protocol: 0x0800, Flags: flags, Retval: retval}
		if flags&format.FlagXDP != 0 {
			e.SKB = 0xffff888002000000
		}
		if mod != nil {
			mod(&e)
		}
		must(w.WriteEvent(&e))
	}
	ev(3, format.FlagXDP|format.FlagRetval|format.FlagExit, 2, func(e *format.Event) { e.Blobs[format.BlobXDPMeta] = x1 }) // XDP_PASS
	ev(3, format.FlagXDP|format.FlagRetval|format.FlagExit, 1, func(e *format.Event) { e.Blobs[format.BlobXDPMeta] = x2 }) // XDP_DROP
	ev(1, 0, 0, func(e *format.Event) { e.Blobs[format.BlobMeta] = m1 })
	ev(2, format.FlagRetval|format.FlagExit, 2, func(e *format.Event) { e.Blobs[format.BlobMeta] = m2 }) // TC_ACT_SHOT
	ev(2, format.FlagRetval|format.FlagExit, 99, nil)                                                    // no name
	ev(4, format.FlagRetval|format.FlagExit, -22, func(e *format.Event) { e.Blobs[format.BlobBPFMap] = bm })
	for _, m := range []struct {
		probe uint32
		flags format.EventFlags
		blob  uint32
	}{{5, format.FlagExit, lookupMiss}, {6, 0, update}, {5, format.FlagExit, lookupHit}, {7, 0, del}, {6, 0, big}, {5, format.FlagExit, percpu}} {
		ev(m.probe, m.flags, 0, func(e *format.Event) { e.Blobs[format.BlobBPFMap] = m.blob })
	}
	must(w.Close())
	f, err := format.NewFile(bytes.NewReader(buf.Bytes()), int64(buf.Len()), nil)
	must(err)
	c := NewCapture(f)
	c.Path = path
	tb.Cleanup(func() { c.Close() })
	return c
}

// TestPrintExtrasGolden prints --output-skb-metadata and
// --output-xdp-metadata values, BPF map bytes
// and return values (tc and XDP verdicts by name).
func TestPrintExtrasGolden(t *testing.T) {
	const xdpMeta = "xdp->rxq->dev->ifindex,xdp->rxq->dev->mtu"
	tests := []struct {
		name string
		meta string
		xdp  string
		opts PrintOptions
	}{
		{"print-extras.golden", "skb->hash,skb->dev->ifindex", xdpMeta, PrintOptions{OutputMeta: true, OutputTuple: true}},
		{"print-extras-json.golden", "skb->hash,skb->dev->ifindex", xdpMeta, PrintOptions{JSON: true, OutputMeta: true}},
		{"print-extras-nonames.golden", "", "", PrintOptions{}},
		// A capture of the recorder that took --output-xdp-metadata as
		// a bool: its blobs are raw bytes, not shown as fields.
		{"print-extras-xdpbool.golden", "skb->hash", "true", PrintOptions{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := mustExtrasCapture(t, tt.meta, tt.xdp)
			var buf bytes.Buffer
			if err := Print(&buf, c, &tt.opts); err != nil {
				t.Fatal(err)
			}
			golden(t, tt.name, buf.Bytes())
		})
	}
}

// TestVerdictName checks the tc and XDP verdict names and that other
// probes keep their numbers.
func TestVerdictName(t *testing.T) {
	tests := []struct {
		kind format.ProbeKind
		v    int64
		want string
	}{
		{format.ProbeTC, 2, "TC_ACT_SHOT"},
		{format.ProbeTC, -1, "TC_ACT_UNSPEC"},
		{format.ProbeTC, 7, "TC_ACT_REDIRECT"},
		{format.ProbeTC, 9, ""},
		{format.ProbeXDP, 1, "XDP_DROP"},
		{format.ProbeXDP, 2, "XDP_PASS"},
		{format.ProbeXDP, 5, ""},
		{format.ProbeFexit, 2, ""},
		{format.ProbeKprobe, 0, ""},
	}
	for _, tt := range tests {
		if got := verdictName(tt.kind, tt.v); got != tt.want {
			t.Errorf("verdictName(%d, %d) = %q, want %q", tt.kind, tt.v, got, tt.want)
		}
	}
}
