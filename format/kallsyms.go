package format

import (
	"bytes"
	"cmp"
	"fmt"
	"io"
	"slices"
	"strconv"
)

// Symbol is one line of /proc/kallsyms.
type Symbol struct {
	Addr   uint64
	Type   byte   // 'T', 't', 'D', ...
	Name   string // e.g. "ip_rcv"
	Module string // "" = vmlinux
}

// ParseKallsyms parses /proc/kallsyms text: "addr type name [module]"
// per line, fields separated by spaces or tabs (any other byte belongs
// to a field, so "\r" is not a blank line). Lines are returned in input
// order. It is [ParseKallsymsLine] applied to every line: the recorder
// parses /proc/kallsyms with the same function.
func ParseKallsyms(r io.Reader) ([]Symbol, error) {
	text, err := io.ReadAll(r)
	if err != nil {
		return nil, fmt.Errorf("read kallsyms: %w", err)
	}
	var syms []Symbol
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
			syms = append(syms, Symbol{Addr: l.Addr, Type: l.Type, Name: string(l.Name), Module: string(l.Module)})
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
	addr, rest := symField(line)
	if len(addr) == 0 {
		return l, false, nil
	}
	typ, rest := symField(rest)
	name, rest := symField(rest)
	mod, rest := symField(rest)
	if extra, _ := symField(rest); len(extra) > 0 || len(typ) != 1 || len(name) == 0 {
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

// symField cuts the first field off s, skipping leading spaces and tabs.
func symField(s []byte) (f, rest []byte) {
	i := 0
	for i < len(s) && (s[i] == ' ' || s[i] == '\t') {
		i++
	}
	s = s[i:]
	i = 0
	for i < len(s) && s[i] != ' ' && s[i] != '\t' {
		i++
	}
	return s[:i], s[i:]
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

// Symbols resolves kernel addresses to symbols. It is immutable and safe
// for concurrent use.
type Symbols struct {
	syms []Symbol // sorted by Addr
}

// NewSymbols returns a resolver over syms (copied and sorted by address).
func NewSymbols(syms []Symbol) *Symbols {
	s := slices.Clone(syms)
	slices.SortStableFunc(s, func(a, b Symbol) int { return cmp.Compare(a.Addr, b.Addr) })
	return &Symbols{syms: s}
}

// Len returns the number of symbols. A nil *Symbols is empty.
func (s *Symbols) Len() int {
	if s == nil {
		return 0
	}
	return len(s.syms)
}

// All returns the symbols sorted by address. The slice is shared: do not
// modify it.
func (s *Symbols) All() []Symbol {
	if s == nil {
		return nil
	}
	return s.syms
}

// Lookup returns the symbol with the highest address <= addr and the
// offset of addr from it. ok is false when addr is below every symbol
// (or s is nil).
func (s *Symbols) Lookup(addr uint64) (sym Symbol, off uint64, ok bool) {
	if s == nil {
		return Symbol{}, 0, false
	}
	i, found := slices.BinarySearchFunc(s.syms, addr, func(e Symbol, a uint64) int { return cmp.Compare(e.Addr, a) })
	if found {
		// Several symbols can share an address: take the last.
		for i+1 < len(s.syms) && s.syms[i+1].Addr == addr {
			i++
		}
		return s.syms[i], 0, true
	}
	if i == 0 {
		return Symbol{}, 0, false
	}
	sym = s.syms[i-1]
	return sym, addr - sym.Addr, true
}

// Format renders addr as "sym+0x1c" or "sym+0x1c [module]", or as
// "0xffffffff81000000" when no symbol covers it.
func (s *Symbols) Format(addr uint64) string {
	sym, off, ok := s.Lookup(addr)
	if !ok {
		return "0x" + strconv.FormatUint(addr, 16)
	}
	out := sym.Name + "+0x" + strconv.FormatUint(off, 16)
	if sym.Module != "" {
		out += " [" + sym.Module + "]"
	}
	return out
}

// appendKallsyms encodes symbols sorted by address: a module table, then
// per symbol the address delta, type, name and module index.
func appendKallsyms(b []byte, syms []Symbol) []byte {
	byAddr := func(a, b Symbol) int { return cmp.Compare(a.Addr, b.Addr) }
	sorted := syms
	if !slices.IsSortedFunc(syms, byAddr) { // /proc/kallsyms mostly is
		sorted = slices.Clone(syms)
		slices.SortStableFunc(sorted, byAddr)
	}
	modIdx := map[string]uint64{"": 0}
	var mods []string
	for _, s := range sorted {
		if _, ok := modIdx[s.Module]; !ok {
			mods = append(mods, s.Module)
			modIdx[s.Module] = uint64(len(mods))
		}
	}
	b = appendUvarint(b, uint64(len(mods)))
	for _, m := range mods {
		b = appendString(b, m)
	}
	b = appendUvarint(b, uint64(len(sorted)))
	var prev uint64
	for _, s := range sorted {
		b = appendUvarint(b, s.Addr-prev)
		prev = s.Addr
		b = append(b, s.Type)
		b = appendString(b, s.Name)
		b = appendUvarint(b, modIdx[s.Module])
	}
	return b
}

// decodeKallsyms decodes a kallsyms payload. Names share one backing
// string to keep allocations per symbol at zero.
func decodeKallsyms(p []byte) ([]Symbol, error) {
	d := decoder{b: p}
	nm := d.count(1)
	mods := make([]string, 1, nm+1)
	for range nm {
		mods = append(mods, d.str())
	}
	n := d.count(4)
	if d.err != nil {
		return nil, asCorrupt(d.err)
	}
	all := string(p) // names alias this copy
	syms := make([]Symbol, n)
	var addr uint64
	for i := range syms {
		addr += d.uvarint()
		syms[i].Addr = addr
		syms[i].Type = d.u8()
		ln := d.uvarint()
		if d.err == nil && ln > uint64(d.remaining()) {
			d.fail(errShort)
		}
		if d.err != nil {
			return nil, corruptf("symbol %d: %v", i, d.err)
		}
		syms[i].Name = all[d.off : d.off+int(ln)]
		d.off += int(ln)
		m := d.uvarint()
		if d.err != nil {
			return nil, corruptf("symbol %d: %v", i, d.err)
		}
		if m >= uint64(len(mods)) {
			return nil, corruptf("symbol %d: module index %d beyond %d modules", i, m, len(mods)-1)
		}
		syms[i].Module = mods[m]
	}
	return syms, nil
}
