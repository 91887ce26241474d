package procfs

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/pwru-record/pwru-record/format"
)

// KallsymsPath is the kernel's symbol table.
const KallsymsPath = "/proc/kallsyms"

// ErrKallsymsHidden: /proc/kallsyms shows zero addresses.
var ErrKallsymsHidden = errors.New("/proc/kallsyms addresses read as zero: run as root or lower kernel.kptr_restrict")

// ParseKallsyms parses /proc/kallsyms text: "addr type name [module]"
// per line, fields separated by spaces or tabs (any other byte belongs
// to a field, so "\r" is not a blank line). Lines are returned in input
// order. It is [ParseKallsymsLine] applied to every line, as
// [Kallsyms.Emit] is.
func ParseKallsyms(r io.Reader) ([]format.Symbol, error) {
	text, err := io.ReadAll(r)
	if err != nil {
		return nil, fmt.Errorf("read kallsyms: %w", err)
	}
	var syms []format.Symbol
	for n := 1; len(text) > 0; n++ {
		line := text
		if i := bytes.IndexByte(text, '\n'); i >= 0 {
			line, text = text[:i], text[i+1:]
		} else {
			text = nil
		}
		l, ok, err := ParseKallsymsLine(line)
		if err != nil {
			return nil, fmt.Errorf("parse kallsyms line %d: %w", n, err)
		}
		if ok {
			syms = append(syms, format.Symbol{Addr: l.Addr, Type: l.Type, Name: string(l.Name), Module: string(l.Module)})
		}
	}
	return syms, nil
}

// KallsymsLine is one parsed /proc/kallsyms line; Name and Module are
// sub-slices of the line.
type KallsymsLine struct {
	Addr         uint64
	Type         byte
	Name, Module []byte
}

// ParseKallsymsLine parses "addr type name [module]" (fields separated
// by spaces or tabs) without allocating. ok is false for a blank line
// (spaces and tabs only); err describes a malformed one.
func ParseKallsymsLine(line []byte) (l KallsymsLine, ok bool, err error) {
	addr, rest := Field(line)
	if len(addr) == 0 {
		return l, false, nil
	}
	typ, rest := Field(rest)
	name, rest := Field(rest)
	mod, rest := Field(rest)
	if extra, _ := Field(rest); len(extra) > 0 || len(typ) != 1 || len(name) == 0 {
		return l, false, fmt.Errorf("want \"addr type name [module]\", got %q", line)
	}
	if l.Addr, ok = parseHex64(addr); !ok {
		return l, false, fmt.Errorf("bad address %q", addr)
	}
	if len(mod) > 0 {
		if len(mod) < 3 || mod[0] != '[' || mod[len(mod)-1] != ']' {
			return l, false, fmt.Errorf("bad module %q", mod)
		}
		mod = mod[1 : len(mod)-1]
	} else {
		mod = nil
	}
	l.Type, l.Name, l.Module = typ[0], name, mod
	return l, true, nil
}

// parseHex64 parses lowercase or uppercase hex digits that fit in 64
// bits (as strconv.ParseUint(s, 16, 64) does).
func parseHex64(b []byte) (uint64, bool) {
	if len(b) == 0 {
		return 0, false
	}
	for len(b) > 16 && b[0] == '0' {
		b = b[1:]
	}
	if len(b) > 16 {
		return 0, false
	}
	var v uint64
	for _, c := range b {
		switch {
		case c >= '0' && c <= '9':
			c -= '0'
		case c >= 'a' && c <= 'f':
			c -= 'a' - 10
		case c >= 'A' && c <= 'F':
			c -= 'A' - 10
		default:
			return 0, false
		}
		v = v<<4 | uint64(c)
	}
	return v, true
}

// Kallsyms is /proc/kallsyms as read, checked by [CheckKallsyms].
type Kallsyms struct {
	text  *Text
	count int // symbols
}

// Count returns the number of symbols.
func (k *Kallsyms) Count() int { return k.count }

// CheckKallsyms parses every line of t once, without keeping anything,
// so that [Kallsyms.Emit] cannot fail on the text. It reports
// [ErrKallsymsHidden] when no address is non-zero.
func CheckKallsyms(t *Text) (*Kallsyms, error) {
	k := &Kallsyms{text: t}
	nonzero := false
	err := t.Lines(func(n int, line []byte) error {
		l, ok, err := ParseKallsymsLine(line)
		if err != nil {
			return fmt.Errorf("parse kallsyms line %d: %w", n, err)
		}
		if ok {
			k.count++
			nonzero = nonzero || l.Addr != 0
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	if !nonzero {
		return nil, ErrKallsymsHidden
	}
	return k, nil
}

// Emit hands the symbols to fn one chunk of text at a time; the slice is
// reused between calls. The symbols' strings share one allocation per
// chunk. Each name in addrs whose value is 0 gets the address of the
// first symbol with that name. The text is let go of chunk by chunk: k
// is empty afterwards.
func (k *Kallsyms) Emit(addrs map[string]uint64, fn func([]format.Symbol) error) error {
	var syms []format.Symbol
	for i, c := range k.text.chunks {
		k.text.chunks[i] = nil
		// One string per chunk: names and modules are substrings of it.
		s := string(c)
		syms = syms[:0]
		for off := 0; off < len(s); {
			end := strings.IndexByte(s[off:], '\n')
			if end < 0 {
				end = len(s)
			} else {
				end += off
			}
			l, ok, _ := ParseKallsymsLine(c[off:end])
			if ok {
				sym := format.Symbol{Addr: l.Addr, Type: l.Type, Name: sub(s, c, l.Name), Module: sub(s, c, l.Module)}
				if a, want := addrs[sym.Name]; want && a == 0 {
					addrs[sym.Name] = sym.Addr
				}
				syms = append(syms, sym)
			}
			off = end + 1
		}
		if len(syms) > 0 {
			if err := fn(syms); err != nil {
				return err
			}
		}
	}
	return nil
}

// sub returns the substring of s (a string copy of c) at the position of
// part, a sub-slice of c.
func sub(s string, c, part []byte) string {
	if len(part) == 0 {
		return ""
	}
	off := cap(c) - cap(part)
	return s[off : off+len(part)]
}
