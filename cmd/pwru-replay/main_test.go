package main

import (
	"github.com/pwru-record/pwru-record/internal/testsupport/fakecapture"

	"bytes"
	"encoding/binary"
	"flag"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/analyze")

// mustScenario writes the named scenario into dir and returns its path.
func mustScenario(tb testing.TB, dir, name string) string {
	tb.Helper()
	path := filepath.Join(dir, name+".pwru")
	f, err := os.Create(path)
	if err != nil {
		tb.Fatal(err)
	}
	if err := fakecapture.WriteScenario(f, name); err != nil {
		tb.Fatal(err)
	}
	if err := f.Close(); err != nil {
		tb.Fatal(err)
	}
	return path
}

// runCLI runs pwru-replay in-process from dir.
func runCLI(t *testing.T, dir string, args ...string) (stdout, stderr string, code int) {
	t.Helper()
	wd, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	if err := os.Chdir(dir); err != nil {
		t.Fatal(err)
	}
	defer os.Chdir(wd)
	var out, errb bytes.Buffer
	code = run(append([]string{"pwru-replay"}, args...), &out, &errb, false)
	return out.String(), errb.String(), code
}

func golden(t *testing.T, name string, got string) {
	t.Helper()
	path := filepath.Join("..", "..", "testdata", "analyze", name)
	if *update {
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("read golden file (run with -update to create it): %v", err)
	}
	if diff := cmp.Diff(string(want), got); diff != "" {
		t.Errorf("%s mismatch (-want +got):\n%s", name, diff)
	}
}

func TestCLIGolden(t *testing.T) {
	dir := t.TempDir()
	for _, s := range fakecapture.Scenarios() {
		mustScenario(t, dir, s)
	}
	tests := []struct {
		golden string
		args   []string
		code   int
	}{
		{"cli-info.golden", []string{"info", "--top", "3", "basic.pwru", "good.pwru"}, 0},
		{"cli-info-noscan.golden", []string{"info", "--no-scan", "bad.pwru"}, 0},
		{"cli-print.golden", []string{"print", "--output-caller", "--timestamp", "relative", "basic.pwru"}, 0},
		{"cli-print-json.golden", []string{"print", "--json", "--output-limit-lines", "4", "--output-tcp-flags", "basic.pwru"}, 0},
		{"cli-print-filters.golden", []string{"print", "--ifname", "eth0", "--mark", "0xa00/0xf00", "--func", "^ip_", "basic.pwru"}, 0},
		{"cli-print-since.golden", []string{"print", "--since", "20us", "--until", "2026-01-02T03:04:05.0000250Z", "basic.pwru"}, 0},
		{"cli-paths.golden", []string{"paths", "--dropped", "basic.pwru"}, 0},
		{"cli-paths-json.golden", []string{"paths", "--json", "good.pwru"}, 0},
		{"cli-stats.golden", []string{"stats", "--top", "5", "bad.pwru"}, 0},
		{"cli-stats-json.golden", []string{"stats", "--json", "basic.pwru"}, 0},
		{"cli-diff.golden", []string{"diff", "good.pwru", "bad.pwru"}, 1},
		{"cli-diff-same.golden", []string{"diff", "good.pwru", "good.pwru"}, 0},
		{"cli-flags-after.golden", []string{"print", "basic.pwru", "udp", "--output-meta=false", "--timestamp", "current", "--output-caller"}, 0},
	}
	for _, tt := range tests {
		t.Run(tt.golden, func(t *testing.T) {
			out, errOut, code := runCLI(t, dir, tt.args...)
			if code != tt.code {
				t.Fatalf("exit status %d, want %d; stderr: %s", code, tt.code, errOut)
			}
			if tt.args[0] == "info" {
				out = fakecapture.StableInfo(out)
			}
			golden(t, tt.golden, out)
		})
	}
}

func TestCLISliceThenRead(t *testing.T) {
	dir := t.TempDir()
	mustScenario(t, dir, "basic")
	_, errOut, code := runCLI(t, dir, "slice", "-o", "drops.pwru", "--dropped", "--trim-symbols", "basic.pwru")
	if code != 0 {
		t.Fatalf("slice: exit %d: %s", code, errOut)
	}
	if !strings.Contains(errOut, "wrote 13 events of 2 skbs") {
		t.Errorf("slice message = %q", errOut)
	}
	want, _, _ := runCLI(t, dir, "paths", "--dropped", "basic.pwru")
	for _, cmd := range [][]string{{"paths", "drops.pwru"}, {"paths", "--dropped", "drops.pwru"}} {
		got, errOut, code := runCLI(t, dir, cmd...)
		if code != 0 {
			t.Fatalf("%v: exit %d: %s", cmd, code, errOut)
		}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("%v on the slice differs from paths --dropped on the original (-want +got):\n%s", cmd, diff)
		}
	}
	if _, errOut, code := runCLI(t, dir, "info", "drops.pwru"); code != 0 {
		t.Errorf("info on the slice: exit %d: %s", code, errOut)
	}
}

func TestCLIPcap(t *testing.T) {
	bin, err := exec.LookPath("tshark")
	if err != nil {
		t.Skip("tshark not installed")
	}
	dir := t.TempDir()
	mustScenario(t, dir, "basic")
	_, errOut, code := runCLI(t, dir, "pcap", "-o", "out.pcapng", "--reason", "NO_SOCKET", "basic.pwru")
	if code != 0 {
		t.Fatalf("pcap: exit %d: %s", code, errOut)
	}
	out, err := exec.Command(bin, "-r", filepath.Join(dir, "out.pcapng"), "-T", "fields", "-e", "frame.interface_name", "-e", "udp.dstport", "-e", "frame.comment").Output()
	if err != nil {
		t.Fatal(err)
	}
	want := "eth0@4026531840\t53\tdropped (NO_SOCKET); skb 0xffff888001000100 (track 2); captured at __netif_receive_skb_core; __netif_receive_skb_core > ip_rcv > ip_local_deliver > udp_rcv > kfree_skb_reason > skb_release_data > kfree_skbmem\n"
	if string(out) != want {
		t.Errorf("tshark fields:\n got %q\nwant %q", out, want)
	}
}

// TestCLIErrors checks that every bad input gives one line on stderr and a
// non-zero exit status, never a panic.
func TestCLIErrors(t *testing.T) {
	dir := t.TempDir()
	good := mustScenario(t, dir, "basic")
	data, err := os.ReadFile(good)
	if err != nil {
		t.Fatal(err)
	}
	write := func(name string, b []byte) {
		if err := os.WriteFile(filepath.Join(dir, name), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("text.pwru", []byte("this is not a capture\n"))
	write("empty.pwru", nil)
	write("short.pwru", data[:40])
	newer := bytes.Clone(data)
	binary.LittleEndian.PutUint16(newer[8:], 9)
	write("newer.pwru", newer)
	corrupt := bytes.Clone(data)
	for i := 30; i < 60; i++ {
		corrupt[i] ^= 0xff
	}
	write("corrupt.pwru", corrupt)
	write("x.pcapng", []byte{0x0a, 0x0d, 0x0d, 0x0a, 28, 0, 0, 0, 0x4d, 0x3c, 0x2b, 0x1a})

	tests := []struct {
		name string
		args []string
		code int
		msg  string
	}{
		{"missing file", []string{"print", "nope.pwru"}, 1, "pwru-replay: open nope.pwru: "},
		{"not a capture", []string{"info", "text.pwru"}, 1, "pwru-replay: open text.pwru: not a capture file"},
		{"empty", []string{"stats", "empty.pwru"}, 1, "pwru-replay: open empty.pwru: "},
		{"truncated", []string{"paths", "short.pwru"}, 1, "pwru-replay: open short.pwru: "},
		{"newer version", []string{"print", "newer.pwru"}, 1, "pwru-replay: open newer.pwru: unsupported capture format version"},
		{"corrupt", []string{"print", "corrupt.pwru"}, 1, "pwru-replay: open corrupt.pwru: "},
		{"bad regex", []string{"print", "--func", "(", "basic.pwru"}, 1, "pwru-replay: parse --func: "},
		{"bad pcap filter", []string{"print", "basic.pwru", "tcp", "port", "nonsense"}, 1, "pwru-replay: parse \"tcp port nonsense\": pcap filter: unknown port"},
		{"bad reason", []string{"stats", "--reason", "NO_SUCH", "basic.pwru"}, 1, "pwru-replay: parse --reason: unknown drop reason"},
		{"bad mark", []string{"print", "--mark", "x/y", "basic.pwru"}, 1, "pwru-replay: parse --mark: "},
		{"bad since", []string{"print", "--since", "yesterday", "basic.pwru"}, 1, "pwru-replay: parse --since: "},
		{"bad timestamp", []string{"print", "--timestamp", "weird", "basic.pwru"}, 1, "pwru-replay: parse --timestamp: "},
		{"unknown netns", []string{"print", "--netns", "nosuch", "basic.pwru"}, 1, "pwru-replay: parse --netns: "},
		{"no file", []string{"print"}, 2, "pwru-replay: print: missing FILE"},
		{"unknown flag", []string{"print", "--bogus", "basic.pwru"}, 2, "pwru-replay: flag provided but not defined: -bogus"},
		{"diff error", []string{"diff", "basic.pwru", "text.pwru"}, 2, "pwru-replay: open text.pwru: not a capture file"},
		{"diff one file", []string{"diff", "basic.pwru"}, 2, "pwru-replay: diff: need GOOD and BAD"},
		{"unknown flag suggestion", []string{"print", "--jsn", "basic.pwru"}, 2, "pwru-replay: flag provided but not defined: -jsn; did you mean --json?"},
		{"mistyped command", []string{"prnt", "basic.pwru"}, 2, "pwru-replay: unknown command \"prnt\": did you mean print?"},
		{"pcapng", []string{"info", "x.pcapng"}, 1, "pwru-replay: x.pcapng is a pcapng file, not a pwru capture: open it with Wireshark"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, errOut, code := runCLI(t, dir, tt.args...)
			if code != tt.code {
				t.Errorf("exit status %d, want %d (stderr %q)", code, tt.code, errOut)
			}
			if strings.Count(errOut, "\n") != 1 || !strings.HasPrefix(errOut, tt.msg) {
				t.Errorf("stderr = %q, want one line starting with %q", errOut, tt.msg)
			}
		})
	}
}

// TestHelpHasExamples checks every subcommand's help shows an example.
func TestHelpHasExamples(t *testing.T) {
	for _, c := range newApp(nil, nil, false).Commands {
		t.Run(c.Name, func(t *testing.T) {
			out, _, code := runCLI(t, t.TempDir(), c.Name, "--help")
			if code != 0 || !strings.Contains(out, "Example:") || !strings.Contains(out, "pwru-replay "+c.Name) {
				t.Errorf("%s --help (exit %d) has no example:\n%s", c.Name, code, out)
			}
		})
	}
}

// TestCrossBuild proves pwru-replay builds without cgo for every
// supported OS and architecture.
func TestCrossBuild(t *testing.T) {
	if testing.Short() {
		t.Skip("cross builds take a while; skipped with -short")
	}
	goBin, err := exec.LookPath("go")
	if err != nil {
		t.Fatal("no go command in PATH: cannot cross-build")
	}
	for _, goos := range []string{"linux", "darwin", "windows"} {
		for _, goarch := range []string{"amd64", "arm64"} {
			t.Run(goos+"/"+goarch, func(t *testing.T) {
				t.Parallel()
				cmd := exec.Command(goBin, "build", "-o", os.DevNull, ".")
				cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS="+goos, "GOARCH="+goarch)
				if out, err := cmd.CombinedOutput(); err != nil {
					t.Fatalf("CGO_ENABLED=0 GOOS=%s GOARCH=%s go build ./cmd/pwru-replay: %v\n%s", goos, goarch, err, out)
				}
			})
		}
	}
}

// TestCLIDamagedFiles runs every subcommand on captures cut or corrupted
// at many offsets: each run ends with exit status 0, 1 or 2, and stderr
// holds at most two warnings (truncation, unreadable BTF or kallsyms) and
// one error line; a panic fails the test.
func TestCLIDamagedFiles(t *testing.T) {
	dir := t.TempDir()
	good := mustScenario(t, dir, "basic")
	data, err := os.ReadFile(good)
	if err != nil {
		t.Fatal(err)
	}
	step := len(data) / 23
	for off := 1; off < len(data); off += step {
		cut := filepath.Join(dir, "cut.pwru")
		bad := filepath.Join(dir, "bad.pwru")
		if err := os.WriteFile(cut, data[:off], 0o644); err != nil {
			t.Fatal(err)
		}
		flipped := bytes.Clone(data)
		for i := off; i < min(off+8, len(flipped)); i++ {
			flipped[i] ^= 0x5a
		}
		if err := os.WriteFile(bad, flipped, 0o644); err != nil {
			t.Fatal(err)
		}
		for _, file := range []string{"cut.pwru", "bad.pwru"} {
			for _, args := range [][]string{
				{"info", file},
				{"print", "--output-stack", "--output-skb", "--json", file},
				{"paths", file, "udp"},
				{"stats", "--dropped", file},
				{"pcap", "-o", "out.pcapng", file},
				{"diff", "basic.pwru", file},
				{"slice", "-o", "s.pwru", "--trim-symbols", file},
				{"print", "--skip-corrupt", file},
			} {
				_, errOut, code := runCLI(t, dir, args...)
				if code < 0 || code > 2 {
					t.Errorf("offset %d: %v: exit status %d", off, args, code)
				}
				if n := strings.Count(errOut, "\n"); n > 3 || strings.Contains(errOut, "goroutine") {
					t.Errorf("offset %d: %v: stderr:\n%s", off, args, errOut)
				}
			}
		}
	}
}

// TestCLIPcapRejectsAll: an expression libpcap's optimiser refuses as
// matching nothing runs, matches nothing, and says so in one line.
func TestCLIPcapRejectsAll(t *testing.T) {
	dir := t.TempDir()
	mustScenario(t, dir, "basic")
	out, errOut, code := runCLI(t, dir, "print", "basic.pwru", "udp port 53 and vlan")
	if code != 0 {
		t.Fatalf("print: exit %d: %s", code, errOut)
	}
	want := "pwru-replay: warning: pcap filter \"udp port 53 and vlan\" matches no packet (libpcap refuses it: expression rejects all packets)\n"
	if errOut != want {
		t.Errorf("stderr:\n got %q\nwant %q", errOut, want)
	}
	all, _, _ := runCLI(t, dir, "print", "basic.pwru", "udp port 53")
	if !strings.Contains(all, "udp_rcv") || strings.Contains(out, "udp_rcv") {
		t.Errorf("udp port 53 printed %d bytes; with vlan: %q", len(all), out)
	}
	if _, errOut, _ := runCLI(t, dir, "print", "basic.pwru", "udp port 53"); errOut != "" {
		t.Errorf("udp port 53: unexpected stderr %q", errOut)
	}
}
