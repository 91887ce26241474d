package main

import (
	"os"
	"path/filepath"
	"slices"
	"sort"
	"testing"
)

func TestFileSet(t *testing.T) {
	tests := []struct {
		name    string
		backups int
		files   int
		want    []string
	}{
		{"keep all", 0, 3, []string{"cap-000001.pwru", "cap-000002.pwru", "cap-000003.pwru"}},
		{"two backups", 2, 5, []string{"cap-000003.pwru", "cap-000004.pwru", "cap-000005.pwru"}},
		{"one file", 2, 1, []string{"cap-000001.pwru"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			s, err := newFileSet(filepath.Join(dir, "cap.pwru"), tt.backups)
			if err != nil {
				t.Fatal(err)
			}
			for i := 1; i < tt.files; i++ {
				if _, err := s.next(); err != nil {
					t.Fatal(err)
				}
			}
			if err := s.Close(); err != nil {
				t.Fatal(err)
			}
			matches, err := filepath.Glob(s.pattern())
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, m := range matches {
				got = append(got, filepath.Base(m))
				fi, err := os.Stat(m)
				if err != nil {
					t.Fatal(err)
				}
				if fi.Mode().Perm() != 0o600 {
					t.Errorf("%s: mode %v, want 0600", m, fi.Mode().Perm())
				}
			}
			sort.Strings(got)
			if !slices.Equal(got, tt.want) {
				t.Errorf("files %v, want %v", got, tt.want)
			}
		})
	}
}

// TestFileSetRefusesExisting: a file of the set is never overwritten.
func TestFileSetRefusesExisting(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "cap.pwru")
	if err := os.WriteFile(rotatedName(path, 1), []byte("old"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := newFileSet(path, 0); err == nil {
		t.Fatal("created over an existing file of the set")
	}
	if b, _ := os.ReadFile(rotatedName(path, 1)); string(b) != "old" {
		t.Errorf("existing file changed: %q", b)
	}
}
