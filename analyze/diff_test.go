package analyze

import (
	"bytes"
	"path/filepath"
	"testing"
)

func TestDiffGolden(t *testing.T) {
	good := mustCapture(t, "good")
	bad := mustCapture(t, "bad")
	tests := []struct {
		name      string
		a, b      *Capture
		opts      DiffOptions
		different bool
	}{
		{"diff-good-bad.golden", good, bad, DiffOptions{}, true},
		{"diff-good-bad-json.golden", good, bad, DiffOptions{JSON: true}, true},
		{"diff-same.golden", good, good, DiffOptions{}, false},
		{"diff-no-latency.golden", good, bad, DiffOptions{LatencyThreshold: 1 << 40, GoodName: "before", BadName: "after"}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var buf bytes.Buffer
			different, err := Diff(&buf, tt.a, tt.b, &tt.opts)
			if err != nil {
				t.Fatal(err)
			}
			if different != tt.different {
				t.Errorf("Diff() different = %v, want %v", different, tt.different)
			}
			golden(t, tt.name, buf.Bytes())
		})
	}
}

func TestDiffRealCaptures(t *testing.T) {
	open := func(name string) *Capture {
		c, err := Open(filepath.Join("..", "testdata", "vm", name))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		return c
	}
	drop, killed := open("drop-6.1.pwru"), open("killed-6.1.pwru")
	tests := []struct {
		golden    string
		a, b      *Capture
		different bool
	}{
		{"vm-diff-self.golden", drop, drop, false},
		{"vm-diff-drop-killed.golden", drop, killed, true},
	}
	for _, tt := range tests {
		t.Run(tt.golden, func(t *testing.T) {
			var buf bytes.Buffer
			different, err := Diff(&buf, tt.a, tt.b, nil)
			if err != nil {
				t.Fatal(err)
			}
			if different != tt.different {
				t.Errorf("different = %v, want %v", different, tt.different)
			}
			golden(t, tt.golden, buf.Bytes())
		})
	}
}
