package format_test

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/gopacket/gopacket/pcapgo"

	"github.com/pwru-record/pwru-record/format"
	"github.com/pwru-record/pwru-record/internal/testsupport/fakecapture"
)

// pcapngCapture writes a capture whose payloads include an L3 packet
// (no MAC header) beside the synthetic Ethernet frames.
func pcapngCapture(t *testing.T) (*fakecapture.Stream, *format.File) {
	t.Helper()
	s := fakecapture.Generate(fakecapture.Config{Seed: 9, SKBs: 60, PayloadPercent: 60})
	var buf bytes.Buffer
	w, err := format.NewWriter(&buf, &s.Header, &format.WriterOptions{ChunkEvents: 200, FlushInterval: -1})
	if err != nil {
		t.Fatal(err)
	}
	if err := fakecapture.WriteStream(w, s); err != nil {
		t.Fatal(err)
	}
	l3 := s.Packets[0]
	l3.Data = l3.Data[14:]
	l3.OrigLen -= 14
	l3.L3 = true
	if _, err := w.AddPacket(&l3); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	s.Packets = append(s.Packets, l3)
	return s, mustOpen(t, buf.Bytes(), nil)
}

// TestWritePcapngGopacket reads the exported pcapng with gopacket's pcapgo
// reader and checks every packet.
func TestWritePcapngGopacket(t *testing.T) {
	s, f := pcapngCapture(t)
	var out bytes.Buffer
	if err := f.WritePcapng(&out); err != nil {
		t.Fatal(err)
	}
	opts := pcapgo.DefaultNgReaderOptions
	opts.WantMixedLinkType = true // Ethernet and raw IP interfaces
	r, err := pcapgo.NewNgReader(&out, opts)
	if err != nil {
		t.Fatal(err)
	}
	for i, want := range s.Packets {
		data, ci, err := r.ReadPacketData()
		if err != nil {
			t.Fatalf("packet %d: %v", i+1, err)
		}
		if !bytes.Equal(data, want.Data) || ci.Length != int(want.OrigLen) {
			t.Errorf("packet %d: got %d bytes (orig %d), want %d (orig %d)", i+1, len(data), ci.Length, len(want.Data), want.OrigLen)
		}
		if wall := uint64(ci.Timestamp.UnixNano()); wall != want.Time+uint64(s.Header.MonoOffset) {
			t.Errorf("packet %d: timestamp %d, want %d", i+1, wall, want.Time+uint64(s.Header.MonoOffset))
		}
	}
	if _, _, err := r.ReadPacketData(); err == nil {
		t.Error("more packets than stored")
	}
}

// TestWritePcapngTshark checks that tshark reads the exported file without
// complaint and dissects the synthetic protocols.
func TestWritePcapngTshark(t *testing.T) {
	tshark, err := exec.LookPath("tshark")
	if err != nil {
		t.Skip("tshark is not installed (apt-get install tshark); skipping the Wireshark compatibility check")
	}
	s, f := pcapngCapture(t)
	path := filepath.Join(t.TempDir(), "out.pcapng")
	fh, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := f.WritePcapng(fh); err != nil {
		t.Fatal(err)
	}
	if err := fh.Close(); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(tshark, "-n", "-r", path, "-T", "fields", "-e", "frame.len", "-e", "frame.protocols")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("tshark -r: %v: %s", err, stderr.String())
	}
	for _, line := range strings.Split(strings.TrimSpace(stderr.String()), "\n") {
		// tshark warns about running as root; anything else is a complaint.
		if line != "" && !strings.Contains(line, "could be dangerous") {
			t.Errorf("tshark complained: %s", line)
		}
	}
	lines := strings.Split(strings.TrimSpace(string(out)), "\n")
	if len(lines) != len(s.Packets) {
		t.Fatalf("tshark saw %d packets, want %d", len(lines), len(s.Packets))
	}
	protos := map[string]bool{}
	for i, line := range lines {
		fields := strings.Split(line, "\t")
		if n, _ := strconv.Atoi(fields[0]); n != int(s.Packets[i].OrigLen) {
			t.Errorf("packet %d: tshark length %s, want %d", i+1, fields[0], s.Packets[i].OrigLen)
		}
		for _, p := range strings.Split(fields[len(fields)-1], ":") {
			protos[p] = true
		}
		if strings.Contains(line, "malformed") {
			t.Errorf("packet %d: tshark says %q", i+1, line)
		}
	}
	for _, p := range []string{"eth", "ip", "ipv6", "tcp", "udp", "icmp", "raw"} {
		if !protos[p] {
			t.Errorf("tshark found no %s packet (saw %v)", p, protos)
		}
	}
}
