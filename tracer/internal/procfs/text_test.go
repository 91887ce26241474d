package procfs

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"strings"
	"testing"
	"testing/iotest"

	"github.com/google/go-cmp/cmp"

	"github.com/pwru-record/pwru-record/format"
)

func mustReadFile(tb testing.TB, path string) []byte {
	tb.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		tb.Fatal(err)
	}
	return b
}

func mustLineText(tb testing.TB, b []byte, chunk int) *Text {
	tb.Helper()
	t, err := ReadText(bytes.NewReader(b), chunk)
	if err != nil {
		tb.Fatalf("ReadText: %v", err)
	}
	return t
}

func TestReadLineText(t *testing.T) {
	tests := []struct {
		name    string
		in      string
		chunk   int
		oneByte bool
		want    []string // chunks
		wantErr error
	}{
		{name: "empty", in: "", chunk: 8},
		{name: "one short line", in: "abc\n", chunk: 8, want: []string{"abc\n"}},
		{name: "no final newline", in: "abc\nde", chunk: 8, want: []string{"abc\nde"}},
		{name: "split at a line", in: "abc\ndef\nghi\n", chunk: 8, want: []string{"abc\ndef\n", "ghi\n"}},
		{name: "line moved whole", in: "ab\ncdefg\nh\n", chunk: 8, want: []string{"ab\n", "cdefg\nh\n"}},
		{name: "one byte reads", in: "ab\ncdefg\nh\n", chunk: 8, oneByte: true, want: []string{"ab\n", "cdefg\nh\n"}},
		{name: "exact fit", in: "abcdefg\n", chunk: 8, want: []string{"abcdefg\n"}},
		{name: "line too long", in: "abcdefgh\n", chunk: 8, wantErr: ErrLineTooLong},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var r = bytes.NewReader([]byte(tt.in))
			rd := any(r).(interface{ Read([]byte) (int, error) })
			if tt.oneByte {
				rd = iotest.OneByteReader(r)
			}
			got, err := ReadText(rd, tt.chunk)
			if !errors.Is(err, tt.wantErr) {
				t.Fatalf("error %v, want %v", err, tt.wantErr)
			}
			if err != nil {
				return
			}
			var chunks []string
			for _, c := range got.chunks {
				chunks = append(chunks, string(c))
			}
			if diff := cmp.Diff(tt.want, chunks); diff != "" {
				t.Errorf("chunks (-want +got):\n%s", diff)
			}
			if got.size != int64(len(tt.in)) {
				t.Errorf("size %d, want %d", got.size, len(tt.in))
			}
		})
	}
}

func TestParseKallsymsLine(t *testing.T) {
	tests := []struct {
		name   string
		line   string
		want   KallsymsLine
		wantOK bool
		err    string // substring of the error, "" = none
	}{
		{name: "vmlinux", line: "ffffffff81001400 T ip_rcv", want: KallsymsLine{Addr: 0xffffffff81001400, Type: 'T', Name: []byte("ip_rcv")}, wantOK: true},
		{name: "module after a tab", line: "ffffffffc0300000 t veth_xmit\t[veth]", want: KallsymsLine{Addr: 0xffffffffc0300000, Type: 't', Name: []byte("veth_xmit"), Module: []byte("veth")}, wantOK: true},
		{name: "hidden address", line: "0000000000000000 T ip_rcv", want: KallsymsLine{Type: 'T', Name: []byte("ip_rcv")}, wantOK: true},
		{name: "blank", line: "", wantOK: false},
		{name: "spaces only", line: "   ", wantOK: false},
		{name: "two fields", line: "ffffffff81001400 T", err: "want \"addr type name [module]\""},
		{name: "long type", line: "ffffffff81001400 TT ip_rcv", err: "want \"addr type name [module]\""},
		{name: "five fields", line: "ffffffff81001400 T ip_rcv [a] b", err: "want \"addr type name [module]\""},
		{name: "bad address", line: "xyz T ip_rcv", err: "bad address"},
		{name: "address too long", line: "1ffffffff81001400 T ip_rcv", err: "bad address"},
		{name: "bad module", line: "ffffffff81001400 T ip_rcv veth", err: "bad module"},
		{name: "empty module", line: "ffffffff81001400 T ip_rcv []", err: "bad module"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, ok, err := ParseKallsymsLine([]byte(tt.line))
			if tt.err != "" {
				if err == nil || !strings.Contains(err.Error(), tt.err) {
					t.Fatalf("error %v, want one containing %q", err, tt.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if ok != tt.wantOK {
				t.Fatalf("ok %v, want %v", ok, tt.wantOK)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("parse (-want +got):\n%s", diff)
			}
		})
	}
}

// TestKallsymsEmit checks the chunked parser against ParseKallsyms
// and the address lookup.
func TestKallsymsEmit(t *testing.T) {
	raw := mustReadFile(t, "testdata/kallsyms")
	want, err := ParseKallsyms(bytes.NewReader(raw))
	if err != nil {
		t.Fatal(err)
	}
	for _, chunk := range []int{64, 100, 4096} {
		t.Run(fmt.Sprintf("chunk %d", chunk), func(t *testing.T) {
			k, err := CheckKallsyms(mustLineText(t, raw, chunk))
			if err != nil {
				t.Fatal(err)
			}
			if k.count != len(want) {
				t.Errorf("count %d, want %d", k.count, len(want))
			}
			addrs := map[string]uint64{"ip_rcv": 0, "veth_poll": 0, "nf_hook_slow": 0, "absent": 0}
			var got []format.Symbol
			calls, chunks := 0, len(k.text.chunks)
			err = k.Emit(addrs, func(s []format.Symbol) error {
				calls++
				got = append(got, s...)
				return nil
			})
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("symbols (-want +got):\n%s", diff)
			}
			if calls != chunks {
				t.Errorf("%d calls, want one per chunk (%d)", calls, chunks)
			}
			wantAddrs := map[string]uint64{"ip_rcv": 0xffffffff81001400, "veth_poll": 0xffffffffc0300100, "nf_hook_slow": 0xffffffffc0400000, "absent": 0}
			if diff := cmp.Diff(wantAddrs, addrs); diff != "" {
				t.Errorf("addresses (-want +got):\n%s", diff)
			}
		})
	}
}

func TestCheckKallsymsErrors(t *testing.T) {
	tests := []struct {
		name string
		in   string
		want error  // errors.Is target
		msg  string // or substring
	}{
		{name: "hidden", in: "0000000000000000 T a\n0000000000000000 t b\n", want: ErrKallsymsHidden},
		{name: "empty", in: "", want: ErrKallsymsHidden},
		{name: "malformed line", in: "ffffffff81000000 T a\nffffffff81000000 T\n", msg: "parse kallsyms line 2: "},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := CheckKallsyms(mustLineText(t, []byte(tt.in), 64))
			if err == nil {
				t.Fatal("no error")
			}
			if tt.want != nil && !errors.Is(err, tt.want) {
				t.Errorf("error %v, want %v", err, tt.want)
			}
			if tt.msg != "" && !strings.Contains(err.Error(), tt.msg) {
				t.Errorf("error %v, want one containing %q", err, tt.msg)
			}
		})
	}
}

func TestTraceableAmong(t *testing.T) {
	text := mustLineText(t, mustReadFile(t, "testdata/available_filter_functions"), 32)
	tests := []struct {
		name  string
		names []string
		want  TraceSet
	}{
		{name: "none", want: TraceSet{}},
		{name: "some", names: []string{"ip_rcv", "fifth", "fourth", "with_addr"},
			want: TraceSet{"ip_rcv": {""}, "fifth": {"dummy"}, "with_addr": {""}}},
		{name: "placeholder never", names: []string{"__ftrace_invalid_address___64"}, want: TraceSet{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := TraceableAmong(text, tt.names)
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("TraceableAmong (-want +got):\n%s", diff)
			}
		})
	}
}

func synthKallsyms(n int) []byte {
	var b bytes.Buffer
	for i := range n {
		fmt.Fprintf(&b, "%016x %c %s_%d", 0xffffffff81000000+uint64(i)*64, "Tt"[i%2], "some_kernel_function", i)
		if i > n*9/10 {
			b.WriteString("\t[some_module]")
		}
		b.WriteByte('\n')
	}
	return b.Bytes()
}

// BenchmarkKallsyms compares the chunked parser (check, then emit in
// batches) with ParseKallsyms on the same text.
func BenchmarkKallsyms(b *testing.B) {
	const lines = 100000
	raw := synthKallsyms(lines)
	b.Run("chunked", func(b *testing.B) {
		b.ReportAllocs()
		b.SetBytes(int64(len(raw)))
		addrs := map[string]uint64{"some_kernel_function_500": 0}
		for b.Loop() {
			k, err := CheckKallsyms(mustLineText(b, raw, ChunkSize))
			if err != nil {
				b.Fatal(err)
			}
			if err := k.Emit(addrs, func([]format.Symbol) error { return nil }); err != nil {
				b.Fatal(err)
			}
		}
		b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*lines), "ns/line")
	})
	b.Run("ParseKallsyms", func(b *testing.B) {
		b.ReportAllocs()
		b.SetBytes(int64(len(raw)))
		for b.Loop() {
			if _, err := ParseKallsyms(bytes.NewReader(raw)); err != nil {
				b.Fatal(err)
			}
		}
		b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*lines), "ns/line")
	})
}

// BenchmarkAvailableFilterFunctions compares the full parse with the
// lookup restricted to candidate names.
func BenchmarkAvailableFilterFunctions(b *testing.B) {
	const lines = 60000
	var buf bytes.Buffer
	var names []string
	for i := range lines {
		name := fmt.Sprintf("some_kernel_function_%d", i)
		buf.WriteString(name)
		if i%50 == 0 {
			buf.WriteString(" [some_module]")
			names = append(names, name)
		}
		buf.WriteByte('\n')
	}
	raw := buf.Bytes()
	b.Run("among candidates", func(b *testing.B) {
		b.ReportAllocs()
		b.SetBytes(int64(len(raw)))
		for b.Loop() {
			TraceableAmong(mustLineText(b, raw, ChunkSize), names)
		}
		b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*lines), "ns/line")
	})
	b.Run("ParseAvailableFilterFunctions", func(b *testing.B) {
		b.ReportAllocs()
		b.SetBytes(int64(len(raw)))
		for b.Loop() {
			if _, err := ParseAvailableFilterFunctions(bytes.NewReader(raw)); err != nil {
				b.Fatal(err)
			}
		}
		b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*lines), "ns/line")
	})
}

// FuzzKallsyms: the chunked parser accepts what ParseKallsyms
// accepts (when some address is non-zero) and yields the same symbols.
func FuzzKallsyms(f *testing.F) {
	f.Add(mustReadFile(f, "testdata/kallsyms"), 64)
	f.Add([]byte("ffffffff81000000 T a\n\n0 t b\t[m]\n"), 16)
	f.Fuzz(func(t *testing.T, b []byte, chunk int) {
		chunk = 16 + abs(chunk)%4096
		text, err := ReadText(bytes.NewReader(b), chunk)
		if err != nil {
			return // a line longer than the chunk
		}
		want, wantErr := ParseKallsyms(bytes.NewReader(b))
		k, err := CheckKallsyms(text)
		if err != nil {
			if wantErr == nil && !errors.Is(err, ErrKallsymsHidden) {
				t.Fatalf("chunked parser: %v; ParseKallsyms accepts it", err)
			}
			return
		}
		if wantErr != nil {
			t.Fatalf("chunked parser accepts what ParseKallsyms rejects: %v", wantErr)
		}
		var got []format.Symbol
		if err := k.Emit(map[string]uint64{}, func(s []format.Symbol) error { got = append(got, s...); return nil }); err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("symbols (-whole +chunked):\n%s", diff)
		}
	})
}

// FuzzAvailableFilterFunctions: no input makes the parser panic, and the
// restricted lookup agrees with the full parse.
func FuzzAvailableFilterFunctions(f *testing.F) {
	f.Add(mustReadFile(f, "testdata/available_filter_functions"))
	f.Fuzz(func(t *testing.T, b []byte) {
		full, err := ParseAvailableFilterFunctions(bytes.NewReader(b))
		if err != nil {
			return
		}
		names := make([]string, 0, len(full))
		for n := range full {
			names = append(names, n)
		}
		got := TraceableAmong(mustLineText(t, b, ChunkSize), names)
		if diff := cmp.Diff(full, got); diff != "" {
			t.Errorf("TraceableAmong (-full +among):\n%s", diff)
		}
	})
}

func abs(n int) int {
	if n < 0 {
		return -n
	}
	return n
}

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
			got, err := ParseKallsyms(strings.NewReader(tt.in))
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
