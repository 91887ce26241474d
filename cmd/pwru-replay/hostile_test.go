package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/pwru-record/pwru-record/format"
)

// vmCapture is a real capture of testdata/vm.
func vmCapture(name string) string { return filepath.Join("..", "..", "testdata", "vm", name) }

// damaged copies the real capture src into dir as name, applies damage
// to its bytes (given the sections of the original) and returns the
// copy's absolute path.
func damaged(t *testing.T, dir, src, name string, damage func(b []byte, secs []format.SectionInfo) []byte) string {
	t.Helper()
	b, err := os.ReadFile(src)
	if err != nil {
		t.Fatal(err)
	}
	f, err := format.Open(src, nil)
	if err != nil {
		t.Fatal(err)
	}
	secs := f.Sections()
	f.Close()
	path := filepath.Join(dir, name)
	if err := os.WriteFile(path, damage(b, secs), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// section returns the first section of type typ.
func section(t *testing.T, secs []format.SectionInfo, typ format.SectionType) format.SectionInfo {
	t.Helper()
	for _, s := range secs {
		if s.Type == typ {
			return s
		}
	}
	t.Fatalf("no %s section", typ)
	return format.SectionInfo{}
}

// warnings returns the lines of stderr that are warnings.
func warnings(stderr string) []string {
	var w []string
	for _, l := range strings.Split(stderr, "\n") {
		if strings.HasPrefix(l, "pwru-replay: warning: ") {
			w = append(w, l)
		}
	}
	return w
}

// TestCLICorruptPackets: one flipped bit in the packets section of a real
// capture used to leave every payload-based answer silently empty with
// exit status 0. Now every command says so in one warning naming the
// section and exits non-zero, unless --skip-corrupt.
func TestCLICorruptPackets(t *testing.T) {
	dir := t.TempDir()
	var pkOff int64
	bad := damaged(t, dir, vmCapture("icmp-6.12.pwru"), "bad.pwru", func(b []byte, secs []format.SectionInfo) []byte {
		s := section(t, secs, format.SectionPackets)
		pkOff = s.Offset
		b[s.Offset+44+100] ^= 1
		return b
	})
	good, err := filepath.Abs(vmCapture("icmp-6.12.pwru"))
	if err != nil {
		t.Fatal(err)
	}
	want := fmt.Sprintf("packets section at offset %d: corrupt capture: payload checksum", pkOff)
	tests := []struct {
		name string
		args []string
		code int
		out  string // file the command writes, kept only on success
	}{
		{"print", []string{"print", bad, "icmp"}, 1, ""},
		{"stats", []string{"stats", bad, "icmp"}, 1, ""},
		{"paths", []string{"paths", bad, "icmp"}, 1, ""},
		{"slice", []string{"slice", "-o", filepath.Join(dir, "s.pwru"), bad, "icmp"}, 1, "s.pwru"},
		{"pcap", []string{"pcap", "-o", filepath.Join(dir, "s.pcapng"), bad, "icmp"}, 1, "s.pcapng"},
		{"pcap-all", []string{"pcap", "-o", filepath.Join(dir, "a.pcapng"), bad}, 1, "a.pcapng"},
		{"diff", []string{"diff", good, bad}, 2, ""},
	}
	for _, tt := range tests {
		for _, skip := range []bool{false, true} {
			name := tt.name
			args := tt.args
			code := tt.code
			if skip {
				name += "-skip-corrupt"
				args = append([]string{args[0], "--skip-corrupt"}, args[1:]...)
				code = 0
				if tt.name == "diff" {
					code = -1 // 0 or 1: the journeys may differ without payloads
				}
			}
			t.Run(name, func(t *testing.T) {
				_, stderr, got := runCLI(t, dir, args...)
				if got != code && (code != -1 || got > 1) {
					t.Errorf("exit status %d, want %d; stderr:\n%s", got, code, stderr)
				}
				w := warnings(stderr)
				if tt.name == "pcap-all" && !skip {
					// Every payload is exported: the first unreadable
					// one stops it (one error line, no file).
					w = []string{stderr}
				}
				if len(w) != 1 || !strings.Contains(w[0], want) {
					t.Errorf("warnings %q, want one containing %q; stderr:\n%s", w, want, stderr)
				}
				if strings.Count(stderr, "read packet") > 1 {
					t.Errorf("repeated prefix in %q", stderr)
				}
				if tt.out != "" && !skip {
					if _, err := os.Stat(filepath.Join(dir, tt.out)); err == nil {
						t.Errorf("%s written although the command failed", tt.out)
					}
				}
			})
		}
	}
}

// TestCLIHostileOpen: what opening a damaged or odd file says, and that
// it costs time per section, not per byte.
func TestCLIHostileOpen(t *testing.T) {
	dir := t.TempDir()
	same := func(b []byte, _ []format.SectionInfo) []byte { return b }
	tests := []struct {
		name   string
		path   func() string
		code   int
		want   string // in stderr
		reject string // never in stderr
	}{
		{"zero-tail-killed-8G", func() string {
			p := damaged(t, dir, vmCapture("killed-6.1.pwru"), "k8.pwru", same)
			if err := os.Truncate(p, 8<<30); err != nil {
				t.Fatal(err)
			}
			return p
		}, 0, "zero bytes (crash before the data reached the disk?)", "recorder killed"},
		{"zero-tail-complete-64G", func() string {
			p := damaged(t, dir, vmCapture("drop-6.1.pwru"), "d64.pwru", same)
			if err := os.Truncate(p, 64<<30); err != nil {
				t.Fatal(err)
			}
			return p
		}, 0, "complete capture followed by 68717388071 zero bytes, ignored", "truncated"},
		{"trailing-junk", func() string {
			return damaged(t, dir, vmCapture("drop-6.1.pwru"), "junk.pwru", func(b []byte, _ []format.SectionInfo) []byte {
				for i := range 100 {
					b = append(b, byte(i*7+1))
				}
				return b
			})
		}, 0, "complete capture followed by 100 bytes of trailing junk, ignored", "recorder killed"},
		{"fifo", func() string {
			p := filepath.Join(dir, "fifo")
			if err := syscall.Mkfifo(p, 0o600); err != nil {
				t.Skip(err)
			}
			return p
		}, 1, "not a seekable file (a pipe): captures are read at offsets; save the stream to a file first", "illegal seek"},
		{"format-0.0", func() string {
			return damaged(t, dir, vmCapture("drop-6.1.pwru"), "v0.pwru", func(b []byte, _ []format.SectionInfo) []byte {
				clear(b[8:12])
				return b
			})
		}, 1, "claims format 0.0, which no pwru-record wrote", "newer"},
		{"bad-section-header", func() string {
			return damaged(t, dir, vmCapture("killed-6.1.pwru"), "hdr.pwru", func(b []byte, secs []format.SectionInfo) []byte {
				b[section(t, secs, format.SectionProbes).Offset+20] ^= 0x10
				return b
			})
		}, 1, "section header at offset ", "unknown("},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := tt.path()
			for _, cmd := range []string{"info", "print", "stats"} {
				start := time.Now()
				_, stderr, code := runCLI(t, dir, cmd, path)
				if d := time.Since(start); d > 20*time.Second {
					t.Errorf("%s took %v", cmd, d)
				}
				if code != tt.code || !strings.Contains(stderr, tt.want) || strings.Contains(stderr, tt.reject) {
					t.Errorf("%s: exit status %d, stderr %q; want status %d, %q, never %q", cmd, code, stderr, tt.code, tt.want, tt.reject)
				}
			}
		})
	}
}

// TestCLISliceKeepsSKBs: a slice by function keeps the events that end
// each kept skb, so that the slice holds the skbs (and fates) it says it
// wrote. "slice --func ^ip_" used to say 37 skbs and info on the result 3:
// without the freeing events, reused addresses merged lifetimes.
func TestCLISliceKeepsSKBs(t *testing.T) {
	dir := t.TempDir()
	for _, name := range []string{"killed-6.1.pwru", "drop-6.1.pwru", "icmp-6.12.pwru"} {
		t.Run(name, func(t *testing.T) {
			src, err := filepath.Abs(vmCapture(name))
			if err != nil {
				t.Fatal(err)
			}
			out := filepath.Join(dir, "s-"+name)
			_, stderr, code := runCLI(t, dir, "slice", "--func", "^ip_", "-o", out, src)
			var events, fates, skbs, pkts int
			line := stderr[strings.LastIndex(strings.TrimSpace(stderr), "\n")+1:]
			if n, _ := fmt.Sscanf(line, "pwru-replay: wrote %d events (%d that end them) of %d skbs (%d packets)", &events, &fates, &skbs, &pkts); code != 0 || n != 4 {
				t.Fatalf("slice: status %d, stderr %q", code, stderr)
			}
			orig, _, code1 := runCLI(t, dir, "info", "--func", "^ip_", src)
			sliced, _, code2 := runCLI(t, dir, "info", out)
			if code1 != 0 || code2 != 0 {
				t.Fatalf("info: status %d and %d", code1, code2)
			}
			want := fmt.Sprintf("events:       %d\n", events)
			if !strings.Contains(sliced, want) {
				t.Errorf("info on the slice lacks %q:\n%s", want, sliced)
			}
			skbLine := func(s string) string {
				i := strings.Index(s, "\nskbs:")
				return s[i+1 : i+1+strings.IndexByte(s[i+1:], '\n')]
			}
			if got, want := skbLine(sliced), skbLine(orig); got != want || !strings.HasPrefix(got, fmt.Sprintf("skbs:         %d ", skbs)) {
				t.Errorf("slice says %d skbs; info on it %q, info --func on the original %q", skbs, got, want)
			}
		})
	}
}

// TestCLISkippedChunksShown: chunks skipped with --skip-corrupt are
// counted in one warning naming the first; exit 0 (the user asked).
func TestCLISkippedChunksShown(t *testing.T) {
	dir := t.TempDir()
	var evOff int64
	bad := damaged(t, dir, vmCapture("drop-6.1.pwru"), "ev.pwru", func(b []byte, secs []format.SectionInfo) []byte {
		s := section(t, secs, format.SectionEvents)
		evOff = s.Offset
		b[s.Offset+44+10] ^= 1
		return b
	})
	_, stderr, code := runCLI(t, dir, "print", "--skip-corrupt", bad)
	want := fmt.Sprintf("events section at offset %d: corrupt capture: payload checksum", evOff)
	if w := warnings(stderr); code != 0 || len(w) != 1 || !strings.Contains(w[0], want) || !strings.Contains(w[0], "1 events chunk skipped") {
		t.Errorf("status %d, warnings %q; want 0 and one with %q", code, w, want)
	}
	if _, stderr, code := runCLI(t, dir, "print", bad); code != 1 || !strings.Contains(stderr, want) {
		t.Errorf("strict: status %d, stderr %q", code, stderr)
	}
}
