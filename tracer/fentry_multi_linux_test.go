package tracer

import (
	"slices"
	"strings"
	"testing"

	"github.com/cilium/ebpf/btf"
)

func TestTrampolineRefuses(t *testing.T) {
	i32 := &btf.Int{Name: "int", Size: 4, Encoding: btf.Signed}
	skb := &btf.Pointer{Target: &btf.Struct{Name: "sk_buff", Size: 232}}
	small := &btf.Struct{Name: "pair", Size: 16}
	big := &btf.Struct{Name: "triple", Size: 24}
	params := func(n int) []btf.FuncParam {
		ps := make([]btf.FuncParam, n)
		for i := range ps {
			ps[i] = btf.FuncParam{Name: "a", Type: i32}
		}
		ps[0] = btf.FuncParam{Name: "skb", Type: skb}
		return ps
	}
	tests := []struct {
		name  string
		proto *btf.FuncProto
		want  string // substring of the reason; "" = taken
	}{
		{"two args", &btf.FuncProto{Return: i32, Params: params(2)}, ""},
		{"void return", &btf.FuncProto{Return: &btf.Void{}, Params: params(1)}, ""},
		{"twelve args", &btf.FuncProto{Return: i32, Params: params(12)}, ""},
		{"thirteen args", &btf.FuncProto{Return: i32, Params: params(13)}, "13 arguments"},
		{"variadic", &btf.FuncProto{Return: &btf.Void{}, Params: append(params(2), btf.FuncParam{Type: &btf.Void{}})}, "variable arguments"},
		{"struct return", &btf.FuncProto{Return: small, Params: params(2)}, "returns a struct"},
		{"union return via typedef", &btf.FuncProto{Return: &btf.Typedef{Name: "u_t", Type: &btf.Union{Name: "u", Size: 8}}, Params: params(1)}, "returns a struct"},
		{"16-byte struct argument", &btf.FuncProto{Return: i32, Params: append(params(1), btf.FuncParam{Name: "p", Type: small})}, ""},
		{"24-byte struct argument", &btf.FuncProto{Return: i32, Params: append(params(1), btf.FuncParam{Name: "p", Type: big})}, "argument p"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := trampolineRefuses(tt.proto)
			if tt.want == "" && got != "" || tt.want != "" && !strings.Contains(got, tt.want) {
				t.Errorf("trampolineRefuses = %q, want %q", got, tt.want)
			}
		})
	}
}

func TestShardProbes(t *testing.T) {
	tests := []struct {
		name string
		idx  []int
		k    int
		want [][]int
	}{
		{"one part", []int{7, 3, 9}, 1, [][]int{{7, 3, 9}}},
		{"dealt in turn", []int{0, 1, 2, 3, 4, 5, 6}, 3, [][]int{{0, 3, 6}, {1, 4}, {2, 5}}},
		{"as many as parts", []int{4, 2}, 2, [][]int{{4}, {2}}},
		{"none", nil, 2, [][]int{nil, nil}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := shardProbes(tt.idx, tt.k)
			if len(got) != len(tt.want) {
				t.Fatalf("shardProbes(%v, %d) = %v, want %v", tt.idx, tt.k, got, tt.want)
			}
			n := 0
			for i := range got {
				n += len(got[i])
				if !slices.Equal(got[i], tt.want[i]) {
					t.Fatalf("shardProbes(%v, %d) = %v, want %v", tt.idx, tt.k, got, tt.want)
				}
			}
			if n != len(tt.idx) {
				t.Fatalf("shardProbes(%v, %d) holds %d functions, want %d", tt.idx, tt.k, n, len(tt.idx))
			}
		})
	}
}
