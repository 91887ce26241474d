package main

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// TestDropPrivileges drops a child process (this test binary again) to
// nobody and reads its threads' status: no root id and no capability
// effective or permitted on any thread, an empty bounding set on the main
// thread, and descriptors opened before still usable.
func TestDropPrivileges(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("dropping privileges needs root")
	}
	dir := t.TempDir()
	path := filepath.Join(dir, "held")
	cmd := exec.Command(os.Args[0], "-test.run=^TestDropPrivileges$")
	cmd.Env = append(os.Environ(), "PWRU_TEST_DROP="+path)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("child: %v: %s", err, out)
	}
	t.Logf("child:\n%s", out)
	for _, want := range []string{"Uid:\t65534\t65534\t65534\t65534", "Gid:\t65534\t65534\t65534\t65534",
		"CapEff:\t0000000000000000", "CapPrm:\t0000000000000000", "CapBnd:\t0000000000000000", "CapAmb:\t0000000000000000",
		"NoNewPrivs:\t1", "running as nobody (uid 65534, gid 65534)"} {
		if !strings.Contains(string(out), want) {
			t.Errorf("child output lacks %q", want)
		}
	}
	if strings.Contains(string(out), "reopened") {
		t.Errorf("the dropped child could open a root-only file")
	}
	if b, err := os.ReadFile(path); err != nil || string(b) != "written after the drop\n" {
		t.Errorf("held file holds %q (%v), want the child's line", b, err)
	}
}

// TestMain runs the child of TestDropPrivileges on the main goroutine,
// locked to the main thread as the recorder's is.
func TestMain(m *testing.M) {
	if os.Getenv("PWRU_TEST_DROP") != "" {
		dropChild()
	}
	os.Exit(m.Run())
}

func dropChild() {
	path := os.Getenv("PWRU_TEST_DROP")
	f, err := os.OpenFile(path, os.O_CREATE|os.O_WRONLY, 0o600)
	if err != nil {
		fmt.Println("open:", err)
		os.Exit(1)
	}
	id, err := lookupUser("nobody")
	if err != nil {
		fmt.Println(err)
		os.Exit(1)
	}
	d, err := dropPrivileges(id)
	if err != nil {
		fmt.Println(err)
		os.Exit(1)
	}
	fmt.Println(d)
	if _, err := f.WriteString("written after the drop\n"); err != nil {
		fmt.Println("write held descriptor:", err)
		os.Exit(1)
	}
	if g, err := os.OpenFile(path, os.O_WRONLY, 0); err == nil {
		fmt.Println("reopened", path)
		g.Close()
	}
	b, _ := os.ReadFile("/proc/self/status")
	for _, l := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(l, "Uid") || strings.HasPrefix(l, "Gid") || strings.HasPrefix(l, "Cap") || strings.HasPrefix(l, "NoNewPrivs") {
			fmt.Println(l)
		}
	}
	os.Exit(0)
}
