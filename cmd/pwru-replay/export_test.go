package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestExportCLI: export writes the three tables of each capture into
// their partitions, refuses a capture already there with one line, and
// reports usage mistakes with status 2.
func TestExportCLI(t *testing.T) {
	dir := t.TempDir()
	mustScenario(t, dir, "good")
	mustScenario(t, dir, "bad")
	_, stderr, code := runCLI(t, dir, "export", "--format", "parquet", "-o", "ds", "good.pwru", "bad.pwru")
	if code != 0 {
		t.Fatalf("export: status %d: %s", code, stderr)
	}
	files, err := filepath.Glob(filepath.Join(dir, "ds", "*", "host=testhost", "date=2026-01-02", "*.parquet"))
	if err != nil || len(files) != 6 {
		t.Fatalf("dataset files: %v (%v), want 3 tables x 2 captures", files, err)
	}
	for _, tc := range []struct {
		name string
		args []string
		code int
		msg  string
	}{
		{"again", []string{"export", "-o", "ds", "good.pwru"}, 1, "capture already exported as ds/events/host=testhost/date=2026-01-02/"},
		{"format", []string{"export", "--format", "csv", "-o", "ds", "good.pwru"}, 2, `unknown --format "csv"`},
		{"no capture", []string{"export", "-o", "ds"}, 2, "missing CAPTURE"},
		{"missing file", []string{"export", "-o", "ds", "nope.pwru"}, 1, "open nope.pwru: no such file or directory"},
		{"bad filter", []string{"export", "-o", "ds2", "--reason", "NOPE", "good.pwru"}, 1, "unknown drop reason"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, stderr, code := runCLI(t, dir, tc.args...)
			if code != tc.code || !strings.Contains(stderr, tc.msg) || strings.Count(stderr, "\n") != 1 {
				t.Errorf("status %d, stderr %q; want status %d and one line with %q", code, stderr, tc.code, tc.msg)
			}
		})
	}
	_, stderr, code = runCLI(t, dir, "export", "--overwrite", "--dropped", "-o", "ds", "bad.pwru", "udp")
	if code != 0 {
		t.Fatalf("export --overwrite: status %d: %s", code, stderr)
	}
	if left, _ := filepath.Glob(filepath.Join(dir, "ds2", "*", "*", "*", "*")); len(left) != 0 {
		t.Errorf("a failed export left files: %v", left)
	}
	if _, err := os.Stat(filepath.Join(dir, "ds")); err != nil {
		t.Fatal(err)
	}
}
