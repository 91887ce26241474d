package tracer

import (
	"os"
	"path/filepath"
	"syscall"
	"testing"
)

// TestReadyFile: the ready file is created 0600 under umask 0, and a
// symlink at its name is neither followed nor replaced.
func TestReadyFile(t *testing.T) {
	old := syscall.Umask(0)
	t.Cleanup(func() { syscall.Umask(old) })
	dir := t.TempDir()
	path := filepath.Join(dir, "ready")
	if err := writeReadyFile(path); err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Errorf("ready file mode %v, want 0600", fi.Mode().Perm())
	}
	victim := filepath.Join(dir, "victim")
	if err := os.WriteFile(victim, []byte("keep"), 0o644); err != nil {
		t.Fatal(err)
	}
	link := filepath.Join(dir, "planted")
	if err := os.Symlink(victim, link); err != nil {
		t.Fatal(err)
	}
	if err := writeReadyFile(link); err == nil {
		t.Error("writeReadyFile wrote through a planted symlink")
	}
	if b, _ := os.ReadFile(victim); string(b) != "keep" {
		t.Errorf("symlink target changed: %q", b)
	}
}
