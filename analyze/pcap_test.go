package analyze

import (
	"bufio"
	"encoding/binary"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/gopacket/gopacket/pcapgo"

	"github.com/pwru-record/pwru-record/format"
	"github.com/pwru-record/pwru-record/internal/testsupport/fakecapture"
)

// tshark runs tshark on path with args and returns its output; the test
// is skipped when tshark is not installed.
func tshark(t *testing.T, path string, args ...string) string {
	t.Helper()
	bin, err := exec.LookPath("tshark")
	if err != nil {
		t.Skip("tshark not installed: cannot check pcapng output")
	}
	cmd := exec.Command(bin, append([]string{"-r", path}, args...)...)
	cmd.Env = append(os.Environ(), "HOME="+t.TempDir())
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("tshark %v: %v\n%s", args, err, stderr.String())
	}
	return string(out)
}

func TestWritePcapTshark(t *testing.T) {
	c := mustCapture(t, "basic")
	tests := []struct {
		name      string
		opts      PcapOptions
		packets   int
		comments  []string
		ifaces    []string
		notInFile []string
	}{
		{
			// One packet per sighting: skb C's payload leaves the pod on
			// veth0 and is seen again on eth0 in the root netns.
			name:    "per-skb",
			packets: 7,
			comments: []string{
				"dropped (NO_SOCKET); skb 0xffff888001000100 (track 2); captured at __netif_receive_skb_core; __netif_receive_skb_core > ip_rcv > ip_local_deliver > udp_rcv > kfree_skb_reason > skb_release_data > kfree_skbmem",
				"delivered; skb 0xffff888001000300 (track 3); captured at packet_rcv; packet_rcv > consume_skb > kfree_skbmem",
				"delivered; skb 0xffff888001000200 (track 3); captured at ip_output; ip_output > ",
				"delivered; skb 0xffff888001000200 (track 3); captured at netif_rx; ip_output > ",
			},
			ifaces: []string{"eth0@4026531840", "veth0@pod1"},
		},
		{
			name:     "per-event",
			opts:     PcapOptions{PerEvent: true},
			packets:  41,
			comments: []string{"dropped (TCP_CSUM); skb 0xffff888001000000 (track 4); captured at kfree_skb_reason", "delivered; skb 0xffff888001000200 (track 3); captured at veth_xmit"},
			ifaces:   []string{"eth0@4026531840", "veth0@pod1"},
		},
		{
			name:      "dropped",
			opts:      PcapOptions{Filter: Filter{Dropped: true}},
			packets:   2,
			comments:  []string{"dropped (TCP_CSUM)"},
			ifaces:    []string{"eth0@4026531840"},
			notInFile: []string{"veth0@pod1"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "out.pcapng")
			f, err := os.Create(path)
			if err != nil {
				t.Fatal(err)
			}
			n, err := WritePcap(f, c, &tt.opts)
			if err != nil {
				t.Fatal(err)
			}
			f.Close()
			if n != tt.packets {
				t.Errorf("WritePcap wrote %d packets, want %d", n, tt.packets)
			}
			pkts := tsharkPackets(t, path)
			if len(pkts) != tt.packets {
				t.Errorf("tshark reads %d packets, want %d", len(pkts), tt.packets)
			}
			checkTimeOrder(t, pkts)
			var comments, ifaces strings.Builder
			for _, p := range pkts {
				comments.WriteString(p.comment + "\n")
				ifaces.WriteString(p.iface + "\n")
				if p.packetID == "" {
					t.Errorf("packet %s has no epb_packetid", p.number)
				}
				if !strings.HasPrefix(p.comment, "delivered;") && !strings.HasPrefix(p.comment, "dropped") {
					t.Errorf("packet %s: comment does not start with the fate: %q", p.number, p.comment)
				}
			}
			for _, want := range tt.comments {
				if !strings.Contains(comments.String(), want) {
					t.Errorf("no packet comment %q in:\n%s", want, comments.String())
				}
			}
			for _, want := range tt.ifaces {
				if !strings.Contains(ifaces.String(), want) {
					t.Errorf("no interface %q in:\n%s", want, ifaces.String())
				}
			}
			for _, no := range tt.notInFile {
				if strings.Contains(ifaces.String(), no) {
					t.Errorf("unexpected interface %q in:\n%s", no, ifaces.String())
				}
			}
		})
	}
}

// tsharkPacket is one packet as tshark reads it back.
type tsharkPacket struct {
	number, time, iface, packetID, direction, verdict, info, comment string
}

func tsharkPackets(t *testing.T, path string) []tsharkPacket {
	t.Helper()
	out := tshark(t, path, "-T", "fields", "-E", "separator=|", "-e", "frame.number", "-e", "frame.time_epoch",
		"-e", "frame.interface_name", "-e", "frame.packet_id", "-e", "frame.packet_flags_direction",
		"-e", "frame.verdict.ebpf_tc", "-e", "frame.verdict.ebpf_xdp", "-e", "_ws.col.Info", "-e", "frame.comment")
	var pkts []tsharkPacket
	for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
		if line == "" {
			continue
		}
		f := strings.SplitN(line, "|", 9)
		if len(f) != 9 {
			t.Fatalf("tshark line %q: want 9 fields", line)
		}
		// tshark 4.0 prints frame.verdict itself empty: take its typed parts.
		verdict := ""
		if f[5] != "" {
			verdict = "TC " + f[5]
		}
		if f[6] != "" {
			verdict = "XDP " + f[6]
		}
		pkts = append(pkts, tsharkPacket{f[0], f[1], f[2], f[3], f[4], verdict, f[7], f[8]})
	}
	return pkts
}

// checkTimeOrder fails unless the packets' times never go backwards.
func checkTimeOrder(t *testing.T, pkts []tsharkPacket) {
	t.Helper()
	prev := ""
	for _, p := range pkts {
		// tshark prints seconds.nanoseconds with a fixed number of digits.
		if prev != "" && (len(p.time) < len(prev) || (len(p.time) == len(prev) && p.time < prev)) {
			t.Errorf("packet %s at %s comes after one at %s: not in time order", p.number, p.time, prev)
		}
		prev = p.time
	}
}

// TestWritePcapSightingsICMP exports the real 6.12 ICMP capture: every
// payload appears where it was seen (the echo request on veth-b in icmp-b
// as well as on veth-a, the reply consumed in icmp-a on an icmp-a
// interface), in time order, each skb with its lifetime as packet id.
func TestWritePcapSightingsICMP(t *testing.T) {
	c, err := Open(filepath.Join("..", "testdata", "vm", "icmp-6.12.pwru"))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	path := filepath.Join(t.TempDir(), "icmp.pcapng")
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := WritePcap(f, c, nil); err != nil {
		t.Fatal(err)
	}
	f.Close()
	pkts := tsharkPackets(t, path)
	checkTimeOrder(t, pkts)
	requests := map[string][]string{} // icmp seq -> interfaces
	skbOfID := map[string]string{}
	consumedInA := 0
	for _, p := range pkts {
		if p.packetID == "" {
			t.Errorf("packet %s has no epb_packetid", p.number)
		}
		skb := strings.Fields(strings.SplitN(p.comment, "; skb ", 2)[1])[0]
		if prev, ok := skbOfID[p.packetID]; ok && prev != skb {
			t.Errorf("packet id %s names skb %s and %s", p.packetID, prev, skb)
		}
		skbOfID[p.packetID] = skb
		if strings.Contains(p.info, "request") {
			seq := strings.Fields(strings.SplitN(p.info, "seq=", 2)[1])[0]
			requests[seq] = append(requests[seq], p.iface)
		}
		if strings.Contains(p.info, "reply") && strings.Contains(p.comment, "captured at consume_skb") {
			consumedInA++
			if !strings.HasSuffix(p.iface, "@icmp-a/ip") {
				t.Errorf("packet %s: the echo reply consumed in icmp-a is exported on %s", p.number, p.iface)
			}
		}
		if strings.Contains(p.comment, "captured at __netif_receive_skb") && p.direction != "0x00000001" {
			t.Errorf("packet %s: received at __netif_receive_skb but direction %q, want inbound", p.number, p.direction)
		}
		if strings.Contains(p.comment, "captured at dev_hard_start_xmit") && p.direction != "0x00000002" {
			t.Errorf("packet %s: sent at dev_hard_start_xmit but direction %q, want outbound", p.number, p.direction)
		}
	}
	if len(requests) != 3 {
		t.Fatalf("echo requests by seq: %v, want 3", requests)
	}
	for seq, ifaces := range requests {
		all := strings.Join(ifaces, " ")
		for _, want := range []string{"veth-a@icmp-a", "veth-b@icmp-b"} {
			if !strings.Contains(all+" ", want+" ") {
				t.Errorf("echo request %s is exported on %v, not on %s", seq, ifaces, want)
			}
		}
	}
	if consumedInA != 3 {
		t.Errorf("%d consumed echo replies, want 3", consumedInA)
	}
}

// TestWritePcapVerdict writes a sighting with a tc verdict and reads the
// epb_verdict back with tshark.
func TestWritePcapVerdict(t *testing.T) {
	c := mustCapture(t, "basic")
	path := filepath.Join(t.TempDir(), "v.pcapng")
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	pw := &pcapWriter{c: c, bw: bufio.NewWriter(f), ifids: map[pcapIf]int{}, names: map[string]int{}}
	st := &pcapSKB{id: 7, comment: "dropped; skb 0x1"}
	for i, v := range []*pcapgo.NgEpbVerdict{
		{Type: pcapgo.NgEpbVerdictTypeLinuxeBPFTC, Data: binary.LittleEndian.AppendUint64(nil, 2)},
		{Type: pcapgo.NgEpbVerdictTypeLinuxeBPFXDP, Data: binary.LittleEndian.AppendUint64(nil, 1)},
	} {
		s := &sighting{time: fakecapture.T0 + uint64(i), payload: 1, probe: 1, verdict: v, skb: st, dir: pcapgo.NgEpbFlagDirectionInbound}
		if err := pw.write(s); err != nil {
			t.Fatal(err)
		}
	}
	if err := pw.stats(); err != nil {
		t.Fatal(err)
	}
	if err := pw.ng.Flush(); err != nil {
		t.Fatal(err)
	}
	pw.bw.Flush()
	f.Close()
	pkts := tsharkPackets(t, path)
	if len(pkts) != 2 {
		t.Fatalf("tshark reads %d packets, want 2", len(pkts))
	}
	for i, want := range []string{"TC 2", "XDP 1"} {
		if pkts[i].verdict != want || pkts[i].packetID != "7" || pkts[i].direction != "0x00000001" {
			t.Errorf("packet %d: verdict %q packet id %q direction %q; want a %s verdict, id 7, inbound", i+1, pkts[i].verdict, pkts[i].packetID, pkts[i].direction, want)
		}
	}
}

func TestPcapVerdictAndDirection(t *testing.T) {
	c := &Capture{probes: []*format.Probe{
		nil,
		{ID: 1, Name: "cls_prog", Kind: format.ProbeTC},
		{ID: 2, Name: "xdp_prog", Kind: format.ProbeXDP},
		{ID: 3, Name: "veth_xmit", Kind: format.ProbeKprobe},
		{ID: 4, Name: "__netif_receive_skb", Kind: format.ProbeKprobe},
		{ID: 5, Name: "kfree_skbmem", Kind: format.ProbeKprobe},
	}}
	tests := []struct {
		e       format.Event
		verdict pcapgo.NgEpbVerdictType
		noVerd  bool
		dir     pcapgo.NgEpbFlag
	}{
		{e: format.Event{ProbeID: 1, Flags: format.FlagRetval, Retval: 2}, verdict: pcapgo.NgEpbVerdictTypeLinuxeBPFTC},
		{e: format.Event{ProbeID: 2, Flags: format.FlagRetval, Retval: 1}, verdict: pcapgo.NgEpbVerdictTypeLinuxeBPFXDP, dir: pcapgo.NgEpbFlagDirectionInbound},
		{e: format.Event{ProbeID: 1}, noVerd: true},
		{e: format.Event{ProbeID: 3, Flags: format.FlagRetval}, noVerd: true, dir: pcapgo.NgEpbFlagDirectionOutbound},
		{e: format.Event{ProbeID: 4}, noVerd: true, dir: pcapgo.NgEpbFlagDirectionInbound},
		{e: format.Event{ProbeID: 5}, noVerd: true},
		{e: format.Event{ProbeID: 5, PktType: 4}, noVerd: true, dir: pcapgo.NgEpbFlagDirectionOutbound},
	}
	for i, tt := range tests {
		v := verdict(c, &tt.e)
		switch {
		case tt.noVerd && v != nil:
			t.Errorf("%d: verdict %+v, want none", i, v)
		case !tt.noVerd && (v == nil || v.Type != tt.verdict || binary.LittleEndian.Uint64(v.Data) != uint64(tt.e.Retval)):
			t.Errorf("%d: verdict %+v, want type %d value %d", i, v, tt.verdict, tt.e.Retval)
		}
		if d := direction(c, &tt.e); d != tt.dir {
			t.Errorf("%d: direction %b, want %b", i, d, tt.dir)
		}
	}
}
