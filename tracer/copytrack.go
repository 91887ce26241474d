package tracer

import (
	"fmt"
	"io"
	"strings"
)

// Clone/copy tracking mechanisms (--filter-track-skb), as reported in
// [Result.CopyTracking] and accepted by [Config.CopyTracking].
const (
	// CopyFexit: fexit programs on the clone/copy functions see source
	// and result at once.
	CopyFexit = "fexit"
	// CopyKprobe: a kprobe remembers the source per task, a kretprobe
	// links the result. The fallback where fexit cannot attach (no BTF
	// trampolines).
	CopyKprobe = "kprobe+kretprobe"
)

// copyFuncs are the kernel functions whose result inherits the track id
// of their first argument, with their fexit programs in bpf/pwru.c.
var copyFuncs = []struct{ fn, fexit string }{
	{"skb_clone", "fexit_skb_clone"},
	{"skb_copy", "fexit_skb_copy"},
	{"__pskb_copy_fclone", "fexit_pskb_copy_fclone"},
	{"skb_copy_expand", "fexit_skb_copy_expand"},
}

// copyTracking is the outcome of attachCopyTracking; L is the link type
// (link.Link when recording).
type copyTracking[L io.Closer] struct {
	links    []L
	used     []string // mechanism per function of fns, "" = none
	warnings []string // one line per failed attempt
}

// attachCopyTracking attaches tracking on every function of fns: fexit
// first, then the kprobe+kretprobe pair for the functions where fexit
// failed. force = CopyKprobe skips fexit (tests of the fallback). attach
// attaches one function by one mechanism (CopyFexit or CopyKprobe).
func attachCopyTracking[L io.Closer](fns []string, force string, attach func(fn, mechanism string) ([]L, error)) copyTracking[L] {
	ct := copyTracking[L]{used: make([]string, len(fns))}
	for i, fn := range fns {
		for _, mech := range []string{CopyFexit, CopyKprobe} {
			if force == CopyKprobe && mech == CopyFexit {
				continue
			}
			ls, err := attach(fn, mech)
			if err != nil {
				ct.warnings = append(ct.warnings, fmt.Sprintf("clone tracking on %s by %s: %v", fn, mech, err))
				continue
			}
			ct.links = append(ct.links, ls...)
			ct.used[i] = mech
			break
		}
	}
	return ct
}

// describe summarises which mechanism tracks which function: one
// mechanism name when all functions share it, else "fexit (f, g),
// kprobe+kretprobe (h), none (i)".
func (ct copyTracking[L]) describe(fns []string) string {
	var order []string
	by := map[string][]string{}
	for i, fn := range fns {
		m := ct.used[i]
		if m == "" {
			m = "none"
		}
		if by[m] == nil {
			order = append(order, m)
		}
		by[m] = append(by[m], fn)
	}
	if len(order) == 1 {
		return order[0]
	}
	parts := make([]string, len(order))
	for i, m := range order {
		parts[i] = m + " (" + strings.Join(by[m], ", ") + ")"
	}
	return strings.Join(parts, ", ")
}
