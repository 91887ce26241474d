package procfs

import (
	"bytes"
	"fmt"
	"io"
	"slices"
)

// AvailPaths are the places of ftrace's list of the functions it can
// attach to, tried in order.
var AvailPaths = []string{
	"/sys/kernel/tracing/available_filter_functions",
	"/sys/kernel/debug/tracing/available_filter_functions",
}

// TraceSet is the set of functions ftrace can attach to, from
// available_filter_functions: name -> modules it appears in ("" =
// vmlinux).
type TraceSet map[string][]string

// ParseAvailableFilterFunctions reads the text of
// /sys/kernel/tracing/available_filter_functions ("name" or
// "name [module]" per line; newer kernels may prefix an address).
func ParseAvailableFilterFunctions(r io.Reader) (TraceSet, error) {
	text, err := ReadText(r, ChunkSize)
	if err != nil {
		return nil, fmt.Errorf("read available_filter_functions: %w", err)
	}
	t := make(TraceSet)
	ScanAvailableFilterFunctions(text, func(name, mod []byte) {
		ms := t[string(name)]
		if !slices.Contains(ms, string(mod)) {
			t[string(name)] = append(ms, string(mod))
		}
	})
	return t, nil
}

// TraceableAmong is [ParseAvailableFilterFunctions] restricted to the
// functions called names, on text already read: only their entries are
// built, so the cost is one map lookup per line and nothing allocated but
// for the names found. Module names are interned.
func TraceableAmong(text *Text, names []string) TraceSet {
	t := make(TraceSet, len(names))
	for _, n := range names {
		t[n] = nil
	}
	mods := map[string]string{"": ""}
	ScanAvailableFilterFunctions(text, func(name, mod []byte) {
		ms, ok := t[string(name)]
		if !ok {
			return
		}
		m, ok := mods[string(mod)]
		if !ok {
			m = string(mod)
			mods[m] = m
		}
		if !slices.Contains(ms, m) {
			t[string(name)] = append(ms, m)
		}
	})
	for n, ms := range t {
		if len(ms) == 0 {
			delete(t, n)
		}
	}
	return t
}

// ScanAvailableFilterFunctions calls fn for each function of
// available_filter_functions text ("name" or "name [module]" per line;
// newer kernels may prefix a 16-digit address) with its name and module
// ("" = vmlinux) as sub-slices of the line. Invalid-address placeholders
// are skipped.
func ScanAvailableFilterFunctions(t *Text, fn func(name, module []byte)) {
	_ = t.Lines(func(_ int, line []byte) error {
		name, rest := Field(line)
		if len(name) == 0 {
			return nil
		}
		if len(name) == 16 && isLowerHex(name) {
			if n, r := Field(rest); len(n) > 0 {
				name, rest = n, r
			}
		}
		next, _ := Field(rest)
		if bytes.HasPrefix(name, []byte("__ftrace_invalid_address__")) {
			return nil
		}
		var mod []byte
		if len(next) >= 2 && next[0] == '[' && next[len(next)-1] == ']' {
			mod = next[1 : len(next)-1]
		}
		fn(name, mod)
		return nil
	})
}

func isLowerHex(b []byte) bool {
	for _, c := range b {
		if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f') {
			return false
		}
	}
	return true
}
