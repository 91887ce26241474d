package tracer

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/pwru-record/pwru-record/tracer/internal/procfs"
)

func TestHaveModuleBTF(t *testing.T) {
	tests := []struct {
		name    string
		btf     []string // files in /sys/kernel/btf
		modules string   // /proc/modules ("-": absent)
		want    bool
	}{
		{"module BTF", []string{"vmlinux", "veth"}, "veth 36864 0 - Live 0x0\n", true},
		{"modules without BTF", []string{"vmlinux"}, "veth 36864 0 - Live 0x0\n", false},
		{"no module loaded", []string{"vmlinux"}, "", true},
		{"no /proc/modules (built without modules)", []string{"vmlinux"}, "-", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			btfDir := filepath.Join(dir, "btf")
			if err := os.Mkdir(btfDir, 0o755); err != nil {
				t.Fatal(err)
			}
			for _, f := range tt.btf {
				if err := os.WriteFile(filepath.Join(btfDir, f), nil, 0o644); err != nil {
					t.Fatal(err)
				}
			}
			mods := filepath.Join(dir, "modules")
			if tt.modules != "-" {
				if err := os.WriteFile(mods, []byte(tt.modules), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			if got := haveModuleBTF(btfDir, mods); got != tt.want {
				t.Errorf("haveModuleBTF = %v, want %v", got, tt.want)
			}
		})
	}
}

func TestUnseenModuleFuncs(t *testing.T) {
	text, err := procfs.ReadText(strings.NewReader("ip_rcv\nveth_xmit [veth]\nveth_poll [veth]\nbr_handle_frame [bridge]\nnf_hook_slow\n"), 64)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name  string
		want  map[string]bool
		all   bool
		mods  []string
		funcs int
	}{
		{"--kmods veth", map[string]bool{"veth": true}, false, []string{"veth"}, 2},
		{"--kmods not loaded", map[string]bool{"nosuch": true}, false, []string{"nosuch"}, 0},
		{"--all-kmods", map[string]bool{}, true, []string{"bridge", "veth"}, 3},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			mods, n := unseenModuleFuncs(text, tt.want, tt.all)
			if !slices.Equal(mods, tt.mods) || n != tt.funcs {
				t.Errorf("unseenModuleFuncs = %v, %d; want %v, %d", mods, n, tt.mods, tt.funcs)
			}
		})
	}
}

func TestKernelCapsLacks(t *testing.T) {
	all := kernelCaps{attachCookie: true, dropReason: true, moduleBTF: true, kprobeMulti: true}
	if l := all.lacks(); len(l) != 0 || all.lacksLine() != "" {
		t.Errorf("a kernel with everything lacks %v (%q)", l, all.lacksLine())
	}
	none := kernelCaps{}
	if got, want := none.lacks(), []string{"module-btf", "drop-reason", "attach-cookie", "kprobe-multi"}; !slices.Equal(got, want) {
		t.Errorf("lacks = %v, want %v", got, want)
	}
	if none.lacksLine() == "" {
		t.Error("no start line for a kernel that lacks everything")
	}
}
