package tracer

import (
	"errors"
	"io"
	"strings"
	"testing"
	"testing/iotest"

	"github.com/google/go-cmp/cmp"
)

func TestBPFKallsyms(t *testing.T) {
	const text = `ffffffff81000000 T _stext
ffffffffc0a01000 t veth_xmit	[veth]
ffffffffc0002000 t bpf_prog_6deef7357e7b4530_raw_tp_kfree_skb	[bpf]
ffffffffc0003000 t bpf_prog_6deef7357e7b4530_filter_pcap_l2	[bpf]
ffffffffc0004000 t bpf_trampoline_6442491234	[bpf]
0000000000000000 t bpf_prog_hidden	[bpf]
ffffffffc0001000 t bpf_prog_aaaaaaaaaaaaaaaa_old_prog	[bpf]
`
	tests := []struct {
		name  string
		in    string
		known map[uint64]bool
		want  []string
	}{
		{"new programs only", text, map[uint64]bool{0xffffffffc0001000: true},
			[]string{"bpf_prog_6deef7357e7b4530_raw_tp_kfree_skb", "bpf_prog_6deef7357e7b4530_filter_pcap_l2", "bpf_trampoline_6442491234"}},
		{"nothing known", text, nil,
			[]string{"bpf_prog_6deef7357e7b4530_raw_tp_kfree_skb", "bpf_prog_6deef7357e7b4530_filter_pcap_l2", "bpf_trampoline_6442491234", "bpf_prog_aaaaaaaaaaaaaaaa_old_prog"}},
		{"no bpf symbols", "ffffffff81000000 T _stext\n", nil, nil},
		{"empty", "", nil, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			syms, err := bpfKallsyms(strings.NewReader(tt.in), tt.known)
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, s := range syms {
				if s.Module != "bpf" || s.Type != 't' {
					t.Errorf("symbol %+v: want module bpf, type t", s)
				}
				got = append(got, s.Name)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("names (-want +got):\n%s", diff)
			}
		})
	}
}

func TestBPFKallsymsErrors(t *testing.T) {
	readErr := errors.New("disk gone")
	tests := []struct {
		name string
		in   io.Reader
		want error // nil: any error
	}{
		{"bad address", strings.NewReader("zzzz t bpf_prog_x\t[bpf]\n"), nil},
		{"bad type", strings.NewReader("ffffffffc0002000 tt bpf_prog_x\t[bpf]\n"), nil},
		{"read error", iotest.ErrReader(readErr), readErr},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			syms, err := bpfKallsyms(tt.in, nil)
			if err == nil || (tt.want != nil && !errors.Is(err, tt.want)) {
				t.Errorf("bpfKallsyms = %v, %v; want error %v", syms, err, tt.want)
			}
		})
	}
}
