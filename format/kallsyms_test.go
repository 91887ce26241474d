package format_test

import (
	"testing"

	"github.com/pwru-record/pwru-record/format"
)

func TestSymbolsLookup(t *testing.T) {
	syms := format.NewSymbols([]format.Symbol{
		{Addr: 0xffffffffc0a01000, Type: 't', Name: "br_handle_frame", Module: "bridge"},
		{Addr: 0xffffffff81000000, Type: 'T', Name: "_stext"},
		{Addr: 0xffffffff81a0b1c0, Type: 't', Name: "ip_rcv_core"},
		{Addr: 0xffffffff81a0b1c0, Type: 'T', Name: "ip_rcv_core_alias"},
	})
	tests := []struct {
		addr uint64
		want string
	}{
		{0xffffffff81a0b1dc, "ip_rcv_core_alias+0x1c"},
		{0xffffffff81a0b1c0, "ip_rcv_core_alias+0x0"},
		{0xffffffff81000010, "_stext+0x10"},
		{0xffffffffc0a01004, "br_handle_frame+0x4 [bridge]"},
		{0x1000, "0x1000"},
	}
	for _, tt := range tests {
		if got := syms.Format(tt.addr); got != tt.want {
			t.Errorf("Format(%#x) = %q, want %q", tt.addr, got, tt.want)
		}
	}
	var none *format.Symbols
	if got := none.Format(0xffffffff81000010); got != "0xffffffff81000010" || none.Len() != 0 {
		t.Errorf("nil Symbols: Format = %q, Len = %d", got, none.Len())
	}
}

// TestKallsymsRoundTrip stores symbols in a capture and resolves through
// File.Symbols.
func TestKallsymsRoundTrip(t *testing.T) {
	s := smallStream()
	f := mustOpen(t, writeStream(t, s, nil), nil)
	syms, err := f.Symbols()
	if err != nil {
		t.Fatal(err)
	}
	if syms.Len() != len(s.Symbols) {
		t.Fatalf("%d symbols, want %d", syms.Len(), len(s.Symbols))
	}
	for _, p := range s.Probes {
		sym, off, ok := syms.Lookup(p.Addr + 0x10)
		if !ok || sym.Name != p.Name || sym.Module != p.Module || off != 0x10 {
			t.Errorf("Lookup(%s+0x10) = %+v %#x %v", p.Name, sym, off, ok)
		}
	}
}
