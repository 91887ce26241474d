//go:build vmtest

package vmtest

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/pwru-record/pwru-record/internal/testsupport/vm"
)

// TestVM checks the harness itself on the first selected kernel: the
// script's exit status and /out come back, a guest that panics and a guest
// that does not finish in time are failures that carry the console.
func TestVM(t *testing.T) {
	series := vm.ExpandSeries(*flagKernels)[0]
	k, err := vm.Fetch(context.Background(), series, "")
	if err != nil {
		t.Fatal(err)
	}
	t.Run("status", func(t *testing.T) {
		xz, err := exec.LookPath("xz")
		if err != nil {
			t.Fatalf("xz (xz-utils, installed by scripts/install-deps.sh): %v", err)
		}
		out := t.TempDir()
		res, err := vm.Run(context.Background(), vm.Config{
			Kernel: k,
			// A dynamically linked program brings its libraries and loader.
			Files:   map[string]string{"/bin/xz": xz},
			Modules: []string{"veth"},
			Script: "mkdir -p /out/sub && uname -r > /out/sub/release && lsmod > /out/lsmod && " +
				"echo pwru | /bin/xz -c | /bin/xz -dc > /out/xz && exit 7\n",
			Timeout: 5 * time.Minute,
			OutDir:  out,
		})
		if err != nil {
			t.Fatal(err)
		}
		t.Logf("boot %.1fs, script %.1fs, total %.1fs", res.Boot.Seconds(), res.Script.Seconds(), res.Total.Seconds())
		if res.Status != 7 {
			t.Errorf("status %d, want 7", res.Status)
		}
		rel, err := os.ReadFile(filepath.Join(out, "sub", "release"))
		if err != nil || strings.TrimSpace(string(rel)) != k.Release {
			t.Errorf("/out/sub/release = %q, %v; want %q", rel, err, k.Release)
		}
		if b, err := os.ReadFile(filepath.Join(out, "xz")); err != nil || string(b) != "pwru\n" {
			t.Errorf("dynamically linked xz in the guest: /out/xz = %q, %v", b, err)
		}
		mods, err := os.ReadFile(filepath.Join(out, "lsmod"))
		if err != nil || !strings.Contains(string(mods), "veth") {
			t.Errorf("lsmod in the guest does not list veth: %q, %v", mods, err)
		}
	})
	t.Run("panic", func(t *testing.T) {
		res, err := vm.Run(context.Background(), vm.Config{
			Kernel:  k,
			Script:  "echo about to crash; echo c > /proc/sysrq-trigger; sleep 600\n",
			Timeout: 5 * time.Minute,
		})
		if err == nil {
			t.Fatalf("a guest that panicked succeeded with status %d", res.Status)
		}
		if !strings.Contains(err.Error(), "without the exit marker") || !strings.Contains(err.Error(), "sysrq") {
			t.Errorf("error does not say the marker is missing or lacks the console tail:\n%v", err)
		}
	})
	t.Run("timeout", func(t *testing.T) {
		start := time.Now()
		_, err := vm.Run(context.Background(), vm.Config{Kernel: k, Script: "sleep 600\n", Timeout: 3 * time.Second})
		if err == nil || !strings.Contains(err.Error(), "timed out after 3s") {
			t.Errorf("err = %v, want a timeout", err)
		}
		if d := time.Since(start); d > time.Minute {
			t.Errorf("the timed-out guest took %v to be killed", d)
		}
	})
}
