package analyze

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/klauspost/compress/zstd"

	"github.com/pwru-record/pwru-record/analyze/analyzetest"
	"github.com/pwru-record/pwru-record/format"
)

// mustSlice slices src into a new file with o and opens it.
func mustSlice(tb testing.TB, src *Capture, o *SliceOptions) (*Capture, string) {
	tb.Helper()
	path := filepath.Join(tb.TempDir(), "sliced.pwru")
	f, err := os.Create(path)
	if err != nil {
		tb.Fatal(err)
	}
	if _, err := Slice(f, src, o); err != nil {
		tb.Fatalf("slice: %v", err)
	}
	if err := f.Close(); err != nil {
		tb.Fatal(err)
	}
	c, err := Open(path)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { c.Close() })
	return c, path
}

// addressesOf collects every kernel address a capture holds: skbs,
// callers, stack frames, probes, kallsyms, and the aligned words of blobs
// that hold kernel-half values.
func addressesOf(tb testing.TB, c *Capture) map[uint64]string {
	tb.Helper()
	f := c.File
	out := map[uint64]string{}
	add := func(a uint64, what string) {
		if a >= kernelHalf {
			if _, ok := out[a]; !ok {
				out[a] = what
			}
		}
	}
	for _, s := range c.Symbols().All() {
		add(s.Addr, "kallsyms "+s.Name)
	}
	for _, p := range f.Probes() {
		add(p.Addr, "probe "+p.Name)
	}
	it := f.Events(nil)
	var e format.Event
	for it.Next(&e) {
		add(e.SKB, "skb")
		add(e.Caller, "caller")
		if e.StackID != 0 {
			ips, err := f.Stack(e.StackID)
			if err != nil {
				tb.Fatal(err)
			}
			for _, ip := range ips {
				add(ip, "stack frame")
			}
		}
		for _, id := range e.Blobs {
			if id == 0 {
				continue
			}
			_, data, err := f.Blob(id)
			if err != nil {
				tb.Fatal(err)
			}
			for off := 0; off+8 <= len(data); off += 8 {
				add(binary.LittleEndian.Uint64(data[off:]), "blob word")
			}
		}
	}
	if err := it.Err(); err != nil {
		tb.Fatal(err)
	}
	return out
}

// sectionPayloads returns the decompressed payload of every section of
// the file at path.
func sectionPayloads(tb testing.TB, path string, c *Capture) map[string][]byte {
	tb.Helper()
	raw, err := os.ReadFile(path)
	if err != nil {
		tb.Fatal(err)
	}
	dec, err := zstd.NewReader(nil)
	if err != nil {
		tb.Fatal(err)
	}
	defer dec.Close()
	out := map[string][]byte{}
	for i, s := range c.File.Sections() {
		hdr := raw[s.Offset : s.Offset+44]
		stored := binary.LittleEndian.Uint32(hdr[8:])
		p := raw[s.Offset+44 : s.Offset+44+int64(stored)]
		if hdr[5]&1 != 0 {
			if p, err = dec.DecodeAll(p, nil); err != nil {
				tb.Fatalf("section %d: %v", i, err)
			}
		}
		out[fmt.Sprintf("%d (%v at %d)", i, s.Type, s.Offset)] = p
	}
	return out
}

// renderAll runs the analyzer commands whose output must not change.
func renderAll(tb testing.TB, c *Capture) map[string]string {
	tb.Helper()
	out := map[string]string{}
	var b bytes.Buffer
	if err := Paths(&b, c, &PathsOptions{NoGroup: true}); err != nil {
		tb.Fatal(err)
	}
	out["paths"] = b.String()
	b.Reset()
	if err := Stats(&b, c, &StatsOptions{Top: 50}); err != nil {
		tb.Fatal(err)
	}
	out["stats"] = b.String()
	b.Reset()
	po := &PrintOptions{OutputMeta: true, OutputTuple: true, OutputStack: true, OutputCaller: true, OutputSkb: true, OutputShinfo: true, OutputSkbCB: true}
	if err := Print(&b, c, po); err != nil {
		tb.Fatal(err)
	}
	out["print"] = b.String()
	return out
}

// kernelNumber matches a kernel address as the analyzer prints it: hex,
// or decimal where BTF says an integer shares the pointer's bytes.
var kernelNumber = regexp.MustCompile(`0xffff[0-9a-f]{12}|\b18446[0-9]{15}\b`)

// TestRedact: slice --redact leaves no original kernel address in any
// section (every 8-byte window of every decompressed payload is checked
// against every address of the original), the decoded capture holds none
// either, the same skb keeps one pseudonym, and paths, stats and print
// (stack frames and callers symbolized) read as before, up to the
// addresses they show as numbers.
func TestRedact(t *testing.T) {
	inputs := map[string]func(t *testing.T) *Capture{
		"basic": func(t *testing.T) *Capture { return mustCapture(t, "basic") },
		"icmp-6.12": func(t *testing.T) *Capture {
			c, err := Open("../testdata/vm/icmp-6.12.pwru")
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { c.Close() })
			return c
		},
	}
	for name, open := range inputs {
		t.Run(name, func(t *testing.T) {
			orig := open(t)
			red, path := mustSlice(t, orig, &SliceOptions{Redact: true})
			if red.File.Header().Redaction != format.RedactAddresses {
				t.Errorf("header redaction = %v, want addresses", red.File.Header().Redaction)
			}
			addrs := addressesOf(t, orig)
			if len(addrs) < 10 {
				t.Fatalf("only %d addresses in the original: the test would prove nothing", len(addrs))
			}
			for sec, p := range sectionPayloads(t, path, red) {
				for off := 0; off+8 <= len(p); off++ {
					if what, ok := addrs[binary.LittleEndian.Uint64(p[off:])]; ok {
						t.Errorf("section %s offset %d holds original address %#x (%s)", sec, off, binary.LittleEndian.Uint64(p[off:]), what)
					}
				}
			}
			for a := range addressesOf(t, red) {
				if what, ok := addrs[a]; ok {
					t.Errorf("redacted capture holds original address %#x (%s)", a, what)
				}
			}
			// One pseudonym per address, both ways.
			fwd, back := map[uint64]uint64{}, map[uint64]uint64{}
			itO, itR := orig.File.Events(nil), red.File.Events(nil)
			var eo, er format.Event
			n := 0
			for itO.Next(&eo) {
				if !itR.Next(&er) {
					t.Fatalf("redacted capture ends after %d events", n)
				}
				n++
				if p, ok := fwd[eo.SKB]; ok && p != er.SKB {
					t.Errorf("skb %#x is %#x and %#x", eo.SKB, p, er.SKB)
				}
				if o, ok := back[er.SKB]; ok && o != eo.SKB {
					t.Errorf("pseudonym %#x names %#x and %#x", er.SKB, o, eo.SKB)
				}
				fwd[eo.SKB], back[er.SKB] = er.SKB, eo.SKB
			}
			if itR.Next(&er) {
				t.Errorf("redacted capture has more than the %d events of the original", n)
			}
			want, got := renderAll(t, orig), renderAll(t, red)
			for k := range want {
				w, g := kernelNumber.ReplaceAllString(want[k], "ADDR"), kernelNumber.ReplaceAllString(got[k], "ADDR")
				if diff := cmp.Diff(w, g); diff != "" {
					t.Errorf("%s differs after redaction (-original +redacted):\n%s", k, diff)
				}
			}
			if name == "basic" {
				golden(t, "redact-print.golden", []byte(got["print"]))
			}
		})
	}
}

// TestHeadersOnly: --headers-only zeroes what follows the L2-L4 headers
// and keeps lengths; info says what the file reveals.
func TestHeadersOnly(t *testing.T) {
	orig := mustCapture(t, "basic")
	red, _ := mustSlice(t, orig, &SliceOptions{HeadersOnly: true, Redact: true})
	if got := red.File.Header().Redaction; got != format.RedactAddresses|format.RedactPayloads {
		t.Errorf("header redaction = %v", got)
	}
	for id := uint32(1); id <= uint32(red.File.Summary().Packets); id++ {
		p, err := red.File.Packet(id)
		if err != nil {
			t.Fatal(err)
		}
		n := headerLen(p.Data, p.L3)
		if n < 14+20+8 {
			t.Errorf("packet %d: headers %d bytes, want at least Ethernet+IPv4+8", id, n)
		}
		for i, b := range p.Data[n:] {
			if b != 0 {
				t.Errorf("packet %d: byte %d after the headers is %#x", id, n+i, b)
				break
			}
		}
	}
	var before, after bytes.Buffer
	if err := Info(&before, orig, nil); err != nil {
		t.Fatal(err)
	}
	if err := Info(&after, red, nil); err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		out  string
		want string
	}{
		{before.String(), "reveals:      addresses real (kernel layout: KASLR base, heap), payload full (up to 256 bytes per packet)"},
		{after.String(), "reveals:      addresses redacted (pseudonyms), payload headers (L2-L4, the rest zeroed)"},
	} {
		if !strings.Contains(tt.out, tt.want+"\n") {
			t.Errorf("info lacks %q:\n%s", tt.want, tt.out)
		}
	}
	none, _ := mustSlice(t, orig, &SliceOptions{NoPayload: true})
	var b bytes.Buffer
	if err := Info(&b, none, nil); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(b.String(), "payload none\n") {
		t.Errorf("info of a capture without payloads:\n%s", b.String())
	}
}

func TestHeaderLen(t *testing.T) {
	tcpData := analyzetest.Ethernet(analyzetest.IPv4("10.0.0.1", "10.0.0.2", 6, 1, analyzetest.TCP(1, 2, 3, 4, 0x18, []byte("secret data"))))
	udp := analyzetest.IPv4("10.0.0.1", "10.0.0.2", 17, 1, analyzetest.UDP(5353, 9999, []byte("secret")))
	icmp := analyzetest.Ethernet(analyzetest.IPv4("10.0.0.1", "10.0.0.2", 1, 1, append(analyzetest.ICMPEcho(8, 7, 1), "secret"...)))
	arp := append(bytes.Repeat([]byte{0xff}, 6), 2, 0, 0, 0, 0, 1, 0x08, 0x06,
		0, 1, 8, 0, 6, 4, 0, 1, 2, 0, 0, 0, 0, 1, 10, 0, 0, 1, 0, 0, 0, 0, 0, 0, 10, 0, 0, 2)
	tests := []struct {
		name string
		data []byte
		l3   bool
		want int
	}{
		{"tcp", tcpData, false, 14 + 20 + 20},
		{"udp from l3", udp, true, 20 + 8},
		{"icmp echo", icmp, false, 14 + 20 + 8},
		{"arp", arp, false, len(arp)},
		{"cut in the ip header", tcpData[:20], false, 14},
		{"not ip at l3", []byte{0x10, 1, 2, 3}, true, 0},
		{"empty", nil, true, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := headerLen(tt.data, tt.l3); got != tt.want {
				t.Errorf("headerLen = %d, want %d", got, tt.want)
			}
		})
	}
}

func FuzzHeaderLen(f *testing.F) {
	f.Add(analyzetest.Ethernet(analyzetest.IPv4("10.0.0.1", "10.0.0.2", 6, 1, analyzetest.TCP(1, 2, 3, 4, 0x18, []byte("x")))), false)
	f.Add(analyzetest.IPv4("10.0.0.1", "10.0.0.2", 17, 1, analyzetest.UDP(1, 2, nil)), true)
	f.Fuzz(func(t *testing.T, data []byte, l3 bool) {
		n := headerLen(data, l3)
		if n < 0 || n > len(data) {
			t.Fatalf("headerLen = %d of %d bytes", n, len(data))
		}
		p := headersOnly(&format.Packet{Data: data, L3: l3})
		if len(p.Data) != len(data) || !bytes.Equal(p.Data[:n], data[:n]) {
			t.Fatal("headersOnly changed the headers or the length")
		}
	})
}
