package analyze

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
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
			name:    "per-skb",
			packets: 6,
			comments: []string{
				"skb 0xffff888001000100 (track 2): __netif_receive_skb_core > ip_rcv > ip_local_deliver > udp_rcv > kfree_skb_reason > skb_release_data > kfree_skbmem; dropped (NO_SOCKET)",
				"skb 0xffff888001000300 (track 3): packet_rcv > consume_skb > kfree_skbmem; delivered",
			},
			ifaces: []string{"eth0@4026531840", "veth0@4026532345"},
		},
		{
			name:     "per-event",
			opts:     PcapOptions{PerEvent: true},
			packets:  41,
			comments: []string{"kfree_skb_reason(SKB_DROP_REASON_TCP_CSUM) skb 0xffff888001000000", "veth_xmit skb 0xffff888001000200"},
			ifaces:   []string{"eth0@4026531840", "veth0@4026532345"},
		},
		{
			name:      "dropped",
			opts:      PcapOptions{Filter: Filter{Dropped: true}},
			packets:   2,
			comments:  []string{"dropped (TCP_CSUM)"},
			ifaces:    []string{"eth0@4026531840"},
			notInFile: []string{"veth0@4026532345"},
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
			lines := strings.Split(strings.TrimSpace(tshark(t, path, "-T", "fields", "-e", "frame.number")), "\n")
			if len(lines) != tt.packets {
				t.Errorf("tshark reads %d packets, want %d", len(lines), tt.packets)
			}
			comments := tshark(t, path, "-T", "fields", "-e", "frame.comment")
			for _, want := range tt.comments {
				if !strings.Contains(comments, want) {
					t.Errorf("no packet comment %q in:\n%s", want, comments)
				}
			}
			ifaces := tshark(t, path, "-T", "fields", "-e", "frame.interface_name")
			for _, want := range tt.ifaces {
				if !strings.Contains(ifaces, want) {
					t.Errorf("no interface %q in:\n%s", want, ifaces)
				}
			}
			for _, no := range tt.notInFile {
				if strings.Contains(ifaces, no) {
					t.Errorf("unexpected interface %q in:\n%s", no, ifaces)
				}
			}
		})
	}
}
