package tracer

import (
	"errors"
	"testing"

	"github.com/google/go-cmp/cmp"
)

type fakeLink struct{ name string }

func (fakeLink) Close() error { return nil }

func TestAttachCopyTracking(t *testing.T) {
	fns := []string{"skb_clone", "skb_copy"}
	errNoTrampoline := errors.New("no BTF trampoline")
	tests := []struct {
		name     string
		force    string
		fails    map[string]bool // "fn/mechanism" -> attach fails
		want     []string        // mechanism per function
		links    []string
		warnings int
		describe string
	}{
		{
			name: "fexit works", want: []string{CopyFexit, CopyFexit},
			links: []string{"skb_clone/fexit", "skb_copy/fexit"}, describe: "fexit",
		},
		{
			name:  "fexit fails everywhere",
			fails: map[string]bool{"skb_clone/fexit": true, "skb_copy/fexit": true},
			want:  []string{CopyKprobe, CopyKprobe}, links: []string{"skb_clone/kprobe+kretprobe", "skb_copy/kprobe+kretprobe"},
			warnings: 2, describe: "kprobe+kretprobe",
		},
		{
			name:  "fexit fails on one function",
			fails: map[string]bool{"skb_copy/fexit": true},
			want:  []string{CopyFexit, CopyKprobe}, links: []string{"skb_clone/fexit", "skb_copy/kprobe+kretprobe"},
			warnings: 1, describe: "fexit (skb_clone), kprobe+kretprobe (skb_copy)",
		},
		{
			name:  "forced fallback",
			force: CopyKprobe,
			want:  []string{CopyKprobe, CopyKprobe}, links: []string{"skb_clone/kprobe+kretprobe", "skb_copy/kprobe+kretprobe"},
			describe: "kprobe+kretprobe",
		},
		{
			name:  "nothing attaches",
			fails: map[string]bool{"skb_clone/fexit": true, "skb_copy/fexit": true, "skb_clone/kprobe+kretprobe": true, "skb_copy/kprobe+kretprobe": true},
			want:  []string{"", ""}, warnings: 4, describe: "none",
		},
		{
			name:  "forced fallback fails on one function",
			force: CopyKprobe,
			fails: map[string]bool{"skb_clone/kprobe+kretprobe": true},
			want:  []string{"", CopyKprobe}, links: []string{"skb_copy/kprobe+kretprobe"},
			warnings: 1, describe: "none (skb_clone), kprobe+kretprobe (skb_copy)",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ct := attachCopyTracking(fns, tt.force, func(fn, mech string) ([]fakeLink, error) {
				if tt.fails[fn+"/"+mech] {
					return nil, errNoTrampoline
				}
				return []fakeLink{{fn + "/" + mech}}, nil
			})
			if diff := cmp.Diff(tt.want, ct.used); diff != "" {
				t.Errorf("mechanisms (-want +got):\n%s", diff)
			}
			var links []string
			for _, l := range ct.links {
				links = append(links, l.name)
			}
			if diff := cmp.Diff(tt.links, links); diff != "" {
				t.Errorf("links (-want +got):\n%s", diff)
			}
			if len(ct.warnings) != tt.warnings {
				t.Errorf("warnings %q, want %d", ct.warnings, tt.warnings)
			}
			if got := ct.describe(fns); got != tt.describe {
				t.Errorf("describe = %q, want %q", got, tt.describe)
			}
		})
	}
}
