package tracer

import (
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

// TestAvailHint: the tracefs mount hint is given only when tracefs is
// missing; a refusal names lockdown when it is active.
func TestAvailHint(t *testing.T) {
	dir := t.TempDir()
	tests := []struct {
		name     string
		err      error
		lockdown string // "" = no lockdown file
		want     string
		reject   string
	}{
		{"missing", &fs.PathError{Op: "open", Path: "x", Err: syscall.ENOENT}, "", "mount -t tracefs", "lockdown"},
		{"lockdown", &fs.PathError{Op: "open", Path: "x", Err: syscall.EPERM}, "none [integrity] confidentiality\n", "lockdown, mode integrity", "mount"},
		{"confidentiality", fmt.Errorf("read: %w", &fs.PathError{Op: "open", Path: "x", Err: syscall.EACCES}), "none integrity [confidentiality]\n", "mode confidentiality", "mount"},
		{"no-lockdown", &fs.PathError{Op: "open", Path: "x", Err: syscall.EACCES}, "[none] integrity confidentiality\n", "run as root", "lockdown"},
		{"no-lockdown-file", &fs.PathError{Op: "open", Path: "x", Err: syscall.EPERM}, "", "run as root", "mount"},
		{"other", &fs.PathError{Op: "read", Path: "x", Err: syscall.EIO}, "", "", "tracefs"},
	}
	old := lockdownPath
	defer func() { lockdownPath = old }()
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			lockdownPath = filepath.Join(dir, tt.name)
			if tt.lockdown != "" {
				if err := os.WriteFile(lockdownPath, []byte(tt.lockdown), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			got := availHint(tt.err)
			if !strings.Contains(got, tt.want) || (tt.reject != "" && strings.Contains(got, tt.reject)) || (tt.want == "" && got != "") {
				t.Errorf("hint %q, want %q without %q", got, tt.want, tt.reject)
			}
		})
	}
}
