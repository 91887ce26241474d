package main

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
)

// TestCLISliceRedact: slice --redact --headers-only writes a 0600 file
// (whatever the umask) whose info says what it reveals, and whose paths
// name the same functions.
func TestCLISliceRedact(t *testing.T) {
	old := syscall.Umask(0)
	t.Cleanup(func() { syscall.Umask(old) })
	dir := t.TempDir()
	mustScenario(t, dir, "basic")
	_, errOut, code := runCLI(t, dir, "slice", "-o", "share.pwru", "--redact", "--headers-only", "basic.pwru")
	if code != 0 {
		t.Fatalf("slice: exit %d: %s", code, errOut)
	}
	fi, err := os.Stat(filepath.Join(dir, "share.pwru"))
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Errorf("slice output mode %v, want 0600", fi.Mode().Perm())
	}
	for _, tt := range []struct{ file, want string }{
		{"basic.pwru", "reveals:      addresses real (kernel layout: KASLR base, heap), payload full (up to 256 bytes per packet)\n"},
		{"share.pwru", "reveals:      addresses redacted (pseudonyms), payload headers (L2-L4, the rest zeroed)\n"},
	} {
		out, errOut, code := runCLI(t, dir, "info", tt.file)
		if code != 0 || !strings.Contains(out, tt.want) {
			t.Errorf("info %s: exit %d, want %q in:\n%s%s", tt.file, code, tt.want, out, errOut)
		}
	}
	out, _, _ := runCLI(t, dir, "info", "--json", "share.pwru")
	if !strings.Contains(out, `"reveals":{"addresses":"redacted","payload":"headers"}`) {
		t.Errorf("info --json lacks the reveals object:\n%s", out)
	}
	want, _, _ := runCLI(t, dir, "paths", "basic.pwru")
	got, _, _ := runCLI(t, dir, "paths", "share.pwru")
	mask := func(s string) string { return kernelAddr.ReplaceAllString(s, "ADDR") }
	if mask(want) != mask(got) {
		t.Errorf("paths differ after redaction:\n%s\nvs\n%s", want, got)
	}
	if !strings.Contains(want, "0xffff888") {
		t.Fatalf("paths of the original show no heap address: the check below proves nothing:\n%s", want)
	}
	if strings.Contains(got, "0xffff888") {
		t.Errorf("paths of the redacted capture show a real heap address:\n%s", got)
	}
}

var kernelAddr = regexp.MustCompile(`0xffff[0-9a-f]{12}`)
