package tracer

import (
	"errors"
	"os"
	"testing"

	"github.com/cilium/ebpf/btf"
	"github.com/google/go-cmp/cmp"
)

func mustRead(tb testing.TB, path string) []byte {
	tb.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		tb.Fatal(err)
	}
	return b
}

// TestFuncsFromRawBTF checks the one-pass scan against the decoded spec.
func TestFuncsFromRawBTF(t *testing.T) {
	raw := mustRead(t, "testdata/funcs.btf")
	spec := mustLoadBTF(t, "testdata/funcs.btf")
	for _, skb := range []bool{true, false} {
		got, err := funcsFromRawBTF(raw, nil, "", skb)
		if err != nil {
			t.Fatal(err)
		}
		want := funcsFromBTF(spec, "", nil, skb)
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("skb=%v (-spec +raw):\n%s", skb, diff)
		}
	}
}

// TestFuncsFromRawBTFKernel does the same on the running kernel's BTF,
// vmlinux and modules, when the host has it.
func TestFuncsFromRawBTFKernel(t *testing.T) {
	raw, err := os.ReadFile("/sys/kernel/btf/vmlinux")
	if err != nil {
		t.Skipf("no kernel BTF on this host: %v", err)
	}
	spec, err := btf.LoadKernelSpec()
	if err != nil {
		t.Fatal(err)
	}
	got, err := funcsFromRawBTF(raw, nil, "", true)
	if err != nil {
		t.Fatal(err)
	}
	want := funcsFromBTF(spec, "", nil, true)
	if len(want) < 100 {
		t.Fatalf("only %d sk_buff functions in the kernel's BTF", len(want))
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("vmlinux (-spec +raw):\n%s", diff)
	}
	ents, _ := os.ReadDir("/sys/kernel/btf")
	for _, e := range ents {
		if e.Name() == "vmlinux" {
			continue
		}
		modRaw := mustRead(t, "/sys/kernel/btf/"+e.Name())
		got, err := funcsFromRawBTF(modRaw, raw, e.Name(), true)
		if err != nil {
			t.Fatalf("module %s: %v", e.Name(), err)
		}
		mod, err := btf.LoadKernelModuleSpec(e.Name())
		if err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff(funcsFromBTF(mod, e.Name(), spec, true), got); diff != "" {
			t.Errorf("module %s (-spec +raw):\n%s", e.Name(), diff)
		}
	}
}

func TestFuncsFromRawBTFMalformed(t *testing.T) {
	raw := mustRead(t, "testdata/funcs.btf")
	tests := []struct {
		name string
		b    []byte
	}{
		{"empty", nil},
		{"short header", raw[:20]},
		{"bad magic", append([]byte{0xeb, 0x9f}, raw[2:]...)},
		{"truncated", raw[:len(raw)/2]},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := funcsFromRawBTF(tt.b, nil, "", true); !errors.Is(err, errBadBTF) {
				t.Errorf("err = %v, want errBadBTF", err)
			}
		})
	}
}

func FuzzFuncsFromRawBTF(f *testing.F) {
	f.Add(mustRead(f, "testdata/funcs.btf"))
	f.Fuzz(func(t *testing.T, b []byte) {
		funcs, err := funcsFromRawBTF(b, nil, "", true)
		if err != nil && funcs != nil {
			t.Fatal("error and result")
		}
	})
}

// BenchmarkFuncsFromRawBTF scans the host kernel's BTF (the fixture when
// the host has none) for sk_buff functions.
func BenchmarkFuncsFromRawBTF(b *testing.B) {
	raw, err := os.ReadFile("/sys/kernel/btf/vmlinux")
	if err != nil {
		raw = mustRead(b, "testdata/funcs.btf")
	}
	r, err := parseRawBTF(raw, nil)
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	b.SetBytes(int64(len(raw)))
	for b.Loop() {
		if _, err := funcsFromRawBTF(raw, nil, "", true); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*len(r.types)), "ns/type")
}

// TestTracepointArgs reads raw tracepoint prototypes.
func TestTracepointArgs(t *testing.T) {
	r, err := parseRawBTF(mustRead(t, "testdata/funcs.btf"), nil)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		tp   string
		n    int
		have bool
	}{
		{"kfree_skb", 3, true},
		{"consume_skb", 1, true},
		{"no_such_tracepoint", 0, false},
		{"ip_rcv", 0, false}, // a function, not a tracepoint prototype
	}
	for _, tt := range tests {
		n, ok := r.tracepointArgs(tt.tp)
		if n != tt.n || ok != tt.have {
			t.Errorf("tracepointArgs(%q) = %d, %v; want %d, %v", tt.tp, n, ok, tt.n, tt.have)
		}
	}
}
