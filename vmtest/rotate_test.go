//go:build vmtest

package vmtest

import (
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"testing"

	"github.com/pwru-record/pwru-record/format"
)

// rotatePort is the flood's destination port (vmtest/guest/rotate.go).
const rotatePort = 5640

// rotateSummary is the recorder's summary of a rotated recording.
var rotateSummary = regexp.MustCompile(`pwru-record: (\d+) events, (\d+) lost, \d+ bytes to \S+; .*\((\d+) files, rotated\)`)

// TestRotate: a flood recorded with rotation into 256 KiB files leaves
// several files; each opens alone and is complete, and their event and
// loss counts add up to what the recorder counted.
func TestRotate(t *testing.T) {
	forKernels(t, "rotate", func(t *testing.T, c *checkCtx) {
		v := c.rep.Values
		r := c.rep.Run("rotate")
		if r == nil {
			t.Fatal("no rotate run in the report")
		}
		t.Logf("flood %d datagrams in %d ms, %d files; stderr:\n%s", v["flood_sent"], v["flood_ms"], v["files"], stderrTail(r.Stderr))
		m := rotateSummary.FindStringSubmatch(r.Stderr)
		if m == nil {
			t.Fatalf("no rotated summary line in the recorder's stderr")
		}
		wantEvents, _ := strconv.ParseUint(m[1], 10, 64)
		wantLost, _ := strconv.ParseUint(m[2], 10, 64)
		wantFiles, _ := strconv.Atoi(m[3])
		files, err := filepath.Glob(filepath.Join(c.dir, "rotate-*.pwru"))
		if err != nil {
			t.Fatal(err)
		}
		if len(files) < 3 || len(files) != wantFiles {
			t.Fatalf("%d files on disk, the recorder says %d; want the same, at least 3", len(files), wantFiles)
		}
		var events, lost uint64
		for _, path := range files {
			cp := readCapture(t, path, false)
			s := cp.f.Summary()
			if !s.Complete || s.Truncated {
				t.Errorf("%s: complete %v truncated %v", path, s.Complete, s.Truncated)
			}
			if len(cp.f.Probes()) == 0 || len(cp.f.BTFModules()) == 0 {
				t.Errorf("%s: %d probes, BTF %v: not self-contained", path, len(cp.f.Probes()), cp.f.BTFModules())
			}
			if syms, err := cp.f.Symbols(); err != nil || syms.Len() == 0 {
				t.Errorf("%s: kallsyms: %v", path, err)
			}
			if len(cp.events) == 0 {
				t.Errorf("%s: no events", path)
			}
			flood := cp.where(func(e *format.Event) bool { return tupleIs(e, 17, "10.0.0.1", "10.0.0.2", rotatePort) })
			if len(flood) == 0 {
				t.Errorf("%s: no events of the flood", path)
			}
			for i := range cp.events {
				if cp.events[i].PayloadID != 0 {
					cp.packetOf(t, &cp.events[i])
				}
			}
			l := cp.f.Losses()
			events += uint64(len(cp.events))
			lost += l.TotalLost()
			t.Logf("%s: %d events, %d lost, %d chunks", filepath.Base(path), len(cp.events), l.TotalLost(), s.Chunks)
			if out, err := exec.Command(bins["pwru-replay"], "info", path).CombinedOutput(); err != nil {
				t.Errorf("pwru-replay info %s: %v\n%s", path, err, out)
			}
		}
		if events != wantEvents || lost != wantLost {
			t.Errorf("files hold %d events, %d lost; the recorder counted %d events, %d lost", events, lost, wantEvents, wantLost)
		}
	})
}
