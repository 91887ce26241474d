package analyze

import (
	"github.com/pwru-record/pwru-record/internal/testsupport/fakecapture"

	"bytes"
	"flag"
	"os"
	"path/filepath"
	"testing"

	"github.com/google/go-cmp/cmp"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/analyze")

// mustCaptureFile writes the named scenario to a temporary file.
func mustCaptureFile(tb testing.TB, scenario string) string {
	tb.Helper()
	path := filepath.Join(tb.TempDir(), scenario+".pwru")
	f, err := os.Create(path)
	if err != nil {
		tb.Fatal(err)
	}
	if err := fakecapture.WriteScenario(f, scenario); err != nil {
		tb.Fatal(err)
	}
	if err := f.Close(); err != nil {
		tb.Fatal(err)
	}
	return path
}

// mustCapture writes and opens the named scenario.
func mustCapture(tb testing.TB, scenario string) *Capture {
	tb.Helper()
	c, err := Open(mustCaptureFile(tb, scenario))
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { c.Close() })
	return c
}

// golden compares got with testdata/analyze/name, rewriting it with -update.
func golden(tb testing.TB, name string, got []byte) {
	tb.Helper()
	path := filepath.Join("..", "testdata", "analyze", name)
	if *update {
		if err := os.WriteFile(path, got, 0o644); err != nil {
			tb.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		tb.Fatalf("read golden file (run with -update to create it): %v", err)
	}
	if !bytes.Equal(want, got) {
		tb.Errorf("%s mismatch (-want +got):\n%s", name, cmp.Diff(string(want), string(got)))
	}
}
