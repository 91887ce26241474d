// Package scripts holds the project's shell scripts; its tests check the ones whose failure modes
// matter to a fresh machine.
package scripts

import (
	"bytes"
	"crypto/sha256"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// TestCheckGenerateLeavesBPFOnFailure runs check-generate.sh with a clang that fails, as on a machine
// missing a header, and checks that it fails and leaves the committed bpf2go output as it was (the old
// check ran go generate in bpf/, whose failure deleted bpf/pwru_x86_bpfel.o).
func TestCheckGenerateLeavesBPFOnFailure(t *testing.T) {
	if _, err := exec.LookPath("go"); err != nil {
		t.Skip("no go in PATH")
	}
	committed, _ := filepath.Glob("../bpf/*_bpfel.*")
	if len(committed) == 0 {
		t.Fatal("no committed bpf2go output in ../bpf")
	}
	before := hashFiles(t, committed)

	fake := t.TempDir()
	clang := "#!/bin/sh\necho \"pwru.c:11:10: fatal error: 'bpf/bpf_helpers.h' file not found\" >&2\nexit 1\n"
	if err := os.WriteFile(filepath.Join(fake, "clang"), []byte(clang), 0o755); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command("./check-generate.sh")
	cmd.Env = append(os.Environ(), "PATH="+fake+string(os.PathListSeparator)+os.Getenv("PATH"))
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Run(); err == nil {
		t.Fatalf("check-generate.sh succeeded with a failing clang:\n%s", out.String())
	}
	if !strings.Contains(out.String(), "bpf/ is left as committed") {
		t.Errorf("check-generate.sh output lacks the reason:\n%s", out.String())
	}
	if after := hashFiles(t, committed); after != before {
		t.Errorf("check-generate.sh changed the committed files %v", committed)
	}
}

func hashFiles(t *testing.T, paths []string) string {
	t.Helper()
	h := sha256.New()
	for _, p := range paths {
		b, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		h.Write([]byte(p))
		h.Write(b)
	}
	return string(h.Sum(nil))
}
