package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/pwru-record/pwru-record/format"
)

// mustSplit writes the events of the capture at path into n files
// STEM-00000k.pwru as the recorder's rotation does: each file with the
// header and snapshots, its events' payloads, stacks and blobs stored in
// it (under its own ids), the losses in the first file.
func mustSplit(tb testing.TB, path string, n int) {
	tb.Helper()
	src, err := format.Open(path, nil)
	if err != nil {
		tb.Fatal(err)
	}
	defer src.Close()
	var evs []format.Event
	it := src.Events(nil)
	var e format.Event
	for it.Next(&e) {
		evs = append(evs, e)
	}
	if err := it.Err(); err != nil {
		tb.Fatal(err)
	}
	must := func(err error) {
		tb.Helper()
		if err != nil {
			tb.Fatal(err)
		}
	}
	per := (len(evs) + n - 1) / n
	for k := range n {
		f, err := os.OpenFile(fmt.Sprintf("%s-%06d.pwru", strings.TrimSuffix(path, ".pwru"), k+1), os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o600)
		must(err)
		w, err := format.NewWriter(f, src.Header(), nil)
		must(err)
		// A stack only this file has shifts its ids against the source.
		_, err = w.AddStack([]uint64{uint64(k + 1)})
		must(err)
		syms, err := src.Symbols()
		must(err)
		must(w.AddKallsyms(syms.All()))
		for _, m := range src.BTFModules() {
			raw, err := src.RawBTF(m)
			must(err)
			must(w.AddBTF(m, raw))
		}
		must(w.AddInterfaces(src.Interfaces(), src.Netns()))
		must(w.AddProbes(src.Probes()))
		for _, e := range evs[min(k*per, len(evs)):min((k+1)*per, len(evs))] {
			if e.PayloadID != 0 {
				p, err := src.Packet(e.PayloadID)
				must(err)
				e.PayloadID, err = w.AddPacket(p)
				must(err)
			}
			if e.StackID != 0 {
				ips, err := src.Stack(e.StackID)
				must(err)
				e.StackID, err = w.AddStack(ips)
				must(err)
			}
			for i, id := range e.Blobs {
				if id != 0 {
					kind, data, err := src.Blob(id)
					must(err)
					e.Blobs[i], err = w.AddBlob(kind, data)
					must(err)
				}
			}
			must(w.WriteEvent(&e))
		}
		if k == 0 {
			l := src.Losses()
			must(w.SetLosses(&l))
		}
		must(w.Close())
		must(f.Close())
	}
}

// TestCLIReadsSet: print, paths and stats of a rotated set, given as a
// glob, show what they show for the single capture it was split from:
// journeys cross the file boundaries whole.
func TestCLIReadsSet(t *testing.T) {
	dir := t.TempDir()
	mustScenario(t, dir, "basic")
	mustSplit(t, filepath.Join(dir, "basic.pwru"), 3)
	for _, cmd := range [][]string{{"print"}, {"print", "--output-stack"}, {"paths"}, {"stats"}, {"paths", "--dropped"}} {
		t.Run(strings.Join(cmd, " "), func(t *testing.T) {
			want, errOut, code := runCLI(t, dir, append(cmd, "basic.pwru")...)
			if code != 0 {
				t.Fatalf("on the capture: exit %d: %s", code, errOut)
			}
			got, errOut, code := runCLI(t, dir, append(cmd, "basic-*.pwru")...)
			if code != 0 {
				t.Fatalf("on the set: exit %d: %s", code, errOut)
			}
			if !strings.Contains(errOut, "reading 3 files as one capture") {
				t.Errorf("stderr %q does not say the set was read as one capture", errOut)
			}
			if strings.Count(want, "\n") < 5 {
				t.Fatalf("the capture's output is too short to compare:\n%s", want)
			}
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("on the set differs from the capture (-want +got):\n%s", diff)
			}
		})
	}
	if _, errOut, code := runCLI(t, dir, "print", "nothing-*.pwru"); code == 0 || !strings.Contains(errOut, "no file matches") {
		t.Errorf("print of an empty glob: exit %d, %q", code, errOut)
	}
}
