package main

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/pwru-record/pwru-record/format"
	"github.com/pwru-record/pwru-record/tracer"
)

// TestReadable: the disk-full message counts the events a cut-short
// capture still holds against those the recorder handed to the writer.
func TestReadable(t *testing.T) {
	dir := t.TempDir()
	cut := filepath.Join(dir, "cut.pwru")
	f, err := os.Create(cut)
	if err != nil {
		t.Fatal(err)
	}
	w, err := format.NewWriter(f, &format.Header{WriterVersion: "test"}, &format.WriterOptions{FlushInterval: -1})
	if err != nil {
		t.Fatal(err)
	}
	for i := range 7 {
		if i == 5 {
			if err := w.Flush(); err != nil { // 5 events in a complete chunk
				t.Fatal(err)
			}
		}
		if err := w.WriteEvent(&format.Event{Time: uint64(1000 + i), SKB: 0x100, ProbeID: 1}); err != nil {
			t.Fatal(err)
		}
	}
	f.Close() // without Close of the writer: no trailer, 2 events never written
	res := &tracer.Result{Stats: tracer.Stats{Events: 7}}
	tests := []struct {
		name, path string
		res        *tracer.Result
		want       string
	}{
		{"file", cut, res, "5 of 7 events readable up to the last complete section"},
		{"stdout", "-", res, "readable up to the last complete section"},
		{"no result", cut, nil, "readable up to the last complete section"},
		{"unreadable", filepath.Join(dir, "missing.pwru"), res, "readable up to the last complete section"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := readable(tt.path, tt.res); got != tt.want {
				t.Errorf("readable(%s) = %q, want %q", tt.path, got, tt.want)
			}
		})
	}
}
