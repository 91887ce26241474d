package format_test

import (
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/pwru-record/pwru-record/format"
)

func TestParseKallsyms(t *testing.T) {
	tests := []struct {
		name    string
		in      string
		want    []format.Symbol
		wantErr string
	}{
		{
			name: "vmlinux and modules",
			in: "ffffffff81000000 T _stext\n" +
				"ffffffff81a0b1c0 t ip_rcv_core\n" +
				"\n" +
				"ffffffffc0a01000 t br_handle_frame\t[bridge]\n",
			want: []format.Symbol{
				{Addr: 0xffffffff81000000, Type: 'T', Name: "_stext"},
				{Addr: 0xffffffff81a0b1c0, Type: 't', Name: "ip_rcv_core"},
				{Addr: 0xffffffffc0a01000, Type: 't', Name: "br_handle_frame", Module: "bridge"},
			},
		},
		{name: "bad address", in: "xyz T foo\n", wantErr: "line 1: bad address"},
		{name: "missing name", in: "ffffffff81000000 T\n", wantErr: "line 1"},
		{name: "bad module", in: "ffffffff81000000 T foo bridge\n", wantErr: "bad module"},
		{name: "long type", in: "ffffffff81000000 TT foo\n", wantErr: "line 1"},
		// Only spaces and tabs separate fields: a carriage return is not
		// a blank line (the recorder's parser agrees, FuzzKallsyms).
		{name: "carriage return", in: "\r", wantErr: "line 1: want"},
		{name: "crlf", in: "ffffffff81000000 T foo\r\n", want: []format.Symbol{{Addr: 0xffffffff81000000, Type: 'T', Name: "foo\r"}}},
		{name: "no final newline", in: "ffffffff81000000 T foo", want: []format.Symbol{{Addr: 0xffffffff81000000, Type: 'T', Name: "foo"}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := format.ParseKallsyms(strings.NewReader(tt.in))
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("got error %v, want one containing %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
		})
	}
}

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
