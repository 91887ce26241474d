package format

import (
	"cmp"
	"slices"
	"strconv"
)

// Symbol is one kernel symbol (a line of /proc/kallsyms).
type Symbol struct {
	Addr   uint64
	Type   byte   // 'T', 't', 'D', ...
	Name   string // e.g. "ip_rcv"
	Module string // "" = vmlinux
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
