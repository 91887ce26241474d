package main

import (
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"testing"

	"golang.org/x/sys/unix"
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
			s, err := newFileSet(filepath.Join(dir, "cap.pwru"), tt.backups, outputOptions{Group: -1})
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
	if _, err := newFileSet(path, 0, outputOptions{Group: -1}); err == nil {
		t.Fatal("created over an existing file of the set")
	}
	if b, _ := os.ReadFile(rotatedName(path, 1)); string(b) != "old" {
		t.Errorf("existing file changed: %q", b)
	}
}

// TestSetFileOwnership: --file-mode, --group and -Z apply to every file
// of a rotated set (and a flight recorder's, created the same way), not
// only the first.
func TestSetFileOwnership(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("giving files to another user and group needs root")
	}
	dir := t.TempDir()
	o := outputOptions{Mode: 0o640, Group: 4242, Owner: &identity{name: "u", uid: 4343, gid: 4444}}
	s, err := newFileSet(filepath.Join(dir, "cap.pwru"), 0, o)
	if err != nil {
		t.Fatal(err)
	}
	for range 2 {
		if _, err := s.next(); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	f, err := createSetFile(filepath.Join(dir, "cap-20261202T000000.000000000Z-drop.pwru"), outputOptions{Group: -1, Owner: o.Owner})
	if err != nil {
		t.Fatal(err)
	}
	f.Close()
	matches, _ := filepath.Glob(filepath.Join(dir, "cap-*.pwru"))
	if len(matches) != 4 {
		t.Fatalf("files %v, want 4", matches)
	}
	for _, m := range matches {
		var st unix.Stat_t
		if err := unix.Stat(m, &st); err != nil {
			t.Fatal(err)
		}
		wantMode, wantGid := uint32(0o640), uint32(4242)
		if strings.HasSuffix(m, "-drop.pwru") {
			wantMode, wantGid = 0o600, 4444 // no --group: the user's group
		}
		if st.Mode&0o777 != wantMode || st.Uid != 4343 || st.Gid != wantGid {
			t.Errorf("%s: mode %04o owner %d:%d, want %04o 4343:%d", filepath.Base(m), st.Mode&0o777, st.Uid, st.Gid, wantMode, wantGid)
		}
	}
}

// TestCheckSetDir: with -Z, a set whose next files the user could not
// create, or give the --group, is refused at start.
func TestCheckSetDir(t *testing.T) {
	dir := t.TempDir()
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	owner := os.Getuid()
	path := filepath.Join(dir, "cap.pwru")
	other := &identity{name: "nobody", uid: owner + 1000, gid: 60000, groups: []int{60000}}
	self := &identity{name: "me", uid: owner, gid: 60001, groups: []int{60001}}
	tests := []struct {
		name string
		id   *identity
		o    outputOptions
		want string // "" = accepted
	}{
		{"no -Z", nil, outputOptions{Group: -1}, ""},
		{"owner of the directory", self, outputOptions{Group: -1}, ""},
		{"others may not write", other, outputOptions{Group: -1}, "--user nobody: cannot create the next files of the set in " + dir + " (mode 0755, owner"},
		{"not in the group", self, outputOptions{Group: 60002}, "--user me is not in --group 60002"},
		{"in the group", self, outputOptions{Group: 60001}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := checkSetDir(path, tt.o, tt.id)
			switch {
			case tt.want == "" && err != nil:
				t.Errorf("refused: %v", err)
			case tt.want != "" && (err == nil || !strings.HasPrefix(err.Error(), tt.want)):
				t.Errorf("error %v, want %q", err, tt.want)
			}
		})
	}
}
