package main

import (
	"bytes"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
)

// withUmask runs the test under a permissive umask (process-wide: these
// tests do not run in parallel).
func withUmask(t *testing.T, mask int) {
	t.Helper()
	old := syscall.Umask(mask)
	t.Cleanup(func() { syscall.Umask(old) })
}

// dirNames lists dir.
func dirNames(t *testing.T, dir string) []string {
	t.Helper()
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range ents {
		names = append(names, e.Name())
	}
	return names
}

func mustCreate(t *testing.T, path string, o outputOptions) *output {
	t.Helper()
	out, err := createOutput(path, o)
	if err != nil {
		t.Fatalf("createOutput(%s): %v", path, err)
	}
	return out
}

func TestOutputModes(t *testing.T) {
	withUmask(t, 0)
	gid := os.Getgid()
	tests := []struct {
		name string
		o    outputOptions
		mode fs.FileMode
		gid  int
	}{
		{name: "default", o: outputOptions{Group: -1}, mode: 0o600, gid: gid},
		{name: "file mode", o: outputOptions{Group: -1, Mode: 0o640}, mode: 0o640, gid: gid},
		{name: "group", o: outputOptions{Group: 65534}, mode: 0o640, gid: 65534},
		{name: "group and mode", o: outputOptions{Group: 65534, Mode: 0o660}, mode: 0o660, gid: 65534},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.gid != gid && os.Geteuid() != 0 {
				t.Skip("chown to another group needs root")
			}
			dir := t.TempDir()
			path := filepath.Join(dir, "c.pwru")
			out := mustCreate(t, path, tt.o)
			check := func(name string) {
				t.Helper()
				fi, err := os.Lstat(name)
				if err != nil {
					t.Fatal(err)
				}
				st := fi.Sys().(*syscall.Stat_t)
				if fi.Mode().Perm() != tt.mode || int(st.Gid) != tt.gid {
					t.Errorf("%s: mode %v gid %d, want %v gid %d", filepath.Base(name), fi.Mode().Perm(), st.Gid, tt.mode, tt.gid)
				}
			}
			check(out.tmp)
			if _, err := os.Lstat(path); !errors.Is(err, fs.ErrNotExist) {
				t.Errorf("final name exists before place: %v", err)
			}
			if _, err := out.f.WriteString("capture"); err != nil {
				t.Fatal(err)
			}
			if err := out.place(); err != nil {
				t.Fatal(err)
			}
			check(path)
			if err := out.Close(); err != nil {
				t.Fatal(err)
			}
			if got := dirNames(t, dir); !slices.Equal(got, []string{"c.pwru"}) {
				t.Errorf("directory holds %q, want only c.pwru", got)
			}
		})
	}
}

func TestOutputSymlink(t *testing.T) {
	withUmask(t, 0)
	dir := t.TempDir()
	victim := filepath.Join(dir, "victim")
	if err := os.WriteFile(victim, []byte("precious"), 0o644); err != nil {
		t.Fatal(err)
	}
	link := filepath.Join(dir, "x.pwru")
	if err := os.Symlink(victim, link); err != nil {
		t.Fatal(err)
	}
	_, err := createOutput(link, outputOptions{Group: -1})
	if err == nil || !strings.Contains(err.Error(), "symbolic link") {
		t.Fatalf("createOutput through a symlink: err = %v, want a refusal", err)
	}
	if strings.Contains(err.Error(), "\n") {
		t.Errorf("refusal is more than one line: %q", err)
	}
	if b, _ := os.ReadFile(victim); string(b) != "precious" {
		t.Errorf("victim changed: %q", b)
	}
	if got := dirNames(t, dir); !slices.Equal(got, []string{"victim", "x.pwru"}) {
		t.Errorf("directory holds %q after the refusal", got)
	}

	// --force writes to the link's target, and leaves the link a link.
	out := mustCreate(t, link, outputOptions{Group: -1, Force: true})
	out.f.WriteString("capture")
	if err := out.place(); err != nil {
		t.Fatal(err)
	}
	out.Close()
	if b, _ := os.ReadFile(victim); string(b) != "capture" {
		t.Errorf("--force: target holds %q, want the capture", b)
	}
	if fi, err := os.Lstat(link); err != nil || fi.Mode()&fs.ModeSymlink == 0 {
		t.Errorf("--force: the link itself was replaced (%v)", err)
	}

	// A symlink planted at the final name while recording starts is not
	// replaced either.
	path := filepath.Join(dir, "late.pwru")
	out = mustCreate(t, path, outputOptions{Group: -1})
	if err := os.Symlink(victim, path); err != nil {
		t.Fatal(err)
	}
	if err := out.place(); err == nil || !strings.Contains(err.Error(), "symbolic link") {
		t.Errorf("place over a planted symlink: err = %v, want a refusal", err)
	}
	out.abort()
	if b, _ := os.ReadFile(victim); string(b) != "capture" {
		t.Errorf("victim changed by a late symlink: %q", b)
	}
}

// TestOutputExclusive: temporary names are created with O_EXCL (never a
// file or symlink that exists), and two recorders writing one name do not
// share a file or replace each other's running capture.
func TestOutputExclusive(t *testing.T) {
	withUmask(t, 0)
	dir := t.TempDir()
	path := filepath.Join(dir, "one.pwru")
	suffixes := []string{"a", "a", "p", "b"}
	old := tempSuffix
	tempSuffix = func() string { s := suffixes[0]; suffixes = suffixes[1:]; return s }
	t.Cleanup(func() { tempSuffix = old })

	victim := filepath.Join(dir, "victim")
	os.WriteFile(victim, []byte("precious"), 0o644)
	first := mustCreate(t, path, outputOptions{Group: -1})
	if filepath.Base(first.tmp) != ".one.pwru.a.tmp" {
		t.Fatalf("first temporary name %s", first.tmp)
	}
	// The second recorder finds the first's temporary name taken and a
	// symlink planted at the next try: it takes neither.
	if err := os.Symlink(victim, filepath.Join(dir, ".one.pwru.p.tmp")); err != nil {
		t.Fatal(err)
	}
	second := mustCreate(t, path, outputOptions{Group: -1})
	if filepath.Base(second.tmp) != ".one.pwru.b.tmp" {
		t.Fatalf("second temporary name %s, want .one.pwru.b.tmp", second.tmp)
	}
	first.f.WriteString("first")
	second.f.WriteString("second")
	if err := first.place(); err != nil {
		t.Fatal(err)
	}
	// The first recorder runs at the name: the second may not replace it.
	err := second.place()
	if !errors.Is(err, errBusy) {
		t.Fatalf("second place: err = %v, want %v", err, errBusy)
	}
	second.abort()
	// Nor may a third start while the first runs.
	if _, err := createOutput(path, outputOptions{Group: -1}); !errors.Is(err, errBusy) {
		t.Fatalf("third createOutput: err = %v, want %v", err, errBusy)
	}
	first.Close()
	if b, _ := os.ReadFile(path); string(b) != "first" {
		t.Errorf("capture holds %q, want the first recorder's", b)
	}
	if b, _ := os.ReadFile(victim); string(b) != "precious" {
		t.Errorf("victim changed: %q", b)
	}
	if got := dirNames(t, dir); !slices.Equal(got, []string{".one.pwru.p.tmp", "one.pwru", "victim"}) {
		t.Errorf("directory holds %q", got)
	}
	// Once the first has finished, the name is free again.
	suffixes = []string{"c"}
	again := mustCreate(t, path, outputOptions{Group: -1})
	if err := again.place(); err != nil {
		t.Errorf("place after the first recorder ended: %v", err)
	}
	again.Close()
}

// parseAndRun runs the real recorder in this process.
func parseAndRun(t *testing.T, args ...string) (string, error) {
	t.Helper()
	app := newApp()
	var out bytes.Buffer
	app.Writer, app.ErrWriter = &out, &out
	err := app.Run(append([]string{"pwru-record"}, args...))
	return out.String(), err
}

// TestFailedStartLeavesNothing runs pwru-record on this host, which cannot
// trace (no tracefs, no privileges or no BTF: it fails at preflight or
// discovery): an existing capture stays byte for byte, a new name is not
// created, and no temporary file stays behind.
func TestFailedStartLeavesNothing(t *testing.T) {
	withUmask(t, 0)
	orig, err := os.ReadFile("../../testdata/vm/drop-6.1.pwru")
	if err != nil {
		t.Fatal(err)
	}
	for _, existing := range []bool{true, false} {
		dir := t.TempDir()
		path := filepath.Join(dir, "e.pwru")
		if existing {
			if err := os.WriteFile(path, orig, 0o644); err != nil {
				t.Fatal(err)
			}
		}
		_, err := parseAndRun(t, "-o", path, "icmp")
		if err == nil {
			t.Skip("this host can trace: the recorder started")
		}
		t.Logf("existing=%v: %v", existing, err)
		if existing {
			b, rerr := os.ReadFile(path)
			if rerr != nil || !bytes.Equal(b, orig) {
				t.Errorf("existing capture changed by a recorder that failed to start (%d bytes, %v)", len(b), rerr)
			}
			if got := dirNames(t, dir); !slices.Equal(got, []string{"e.pwru"}) {
				t.Errorf("directory holds %q, want only e.pwru", got)
			}
		} else if got := dirNames(t, dir); len(got) != 0 {
			t.Errorf("directory holds %q, want nothing", got)
		}
	}
}
