package procfs

import (
	"bytes"
	"os"
	"testing"

	"github.com/pwru-record/pwru-record/format"
)

// BenchmarkReadKallsyms reads and parses the host's /proc/kallsyms (read
// syscalls included): the recorder's path, and the earlier one (read
// whole, then ParseKallsyms).
func BenchmarkReadKallsyms(b *testing.B) {
	text, err := ReadFirst(KallsymsPath)
	if err != nil {
		b.Skipf("no kallsyms: %v", err)
	}
	if _, err := CheckKallsyms(text); err != nil {
		b.Skipf("kallsyms unusable here: %v", err)
	}
	lines := 0
	text.Lines(func(int, []byte) error { lines++; return nil })
	perLine := func(b *testing.B) {
		b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*lines), "ns/line")
	}
	b.Run("chunked", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			text, err := ReadFirst(KallsymsPath)
			if err != nil {
				b.Fatal(err)
			}
			k, err := CheckKallsyms(text)
			if err != nil {
				b.Fatal(err)
			}
			if err := k.Emit(map[string]uint64{"ip_rcv": 0}, func([]format.Symbol) error { return nil }); err != nil {
				b.Fatal(err)
			}
		}
		perLine(b)
	})
	b.Run("ReadFile+ParseKallsyms", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			raw, err := os.ReadFile(KallsymsPath)
			if err != nil {
				b.Fatal(err)
			}
			if _, err := ParseKallsyms(bytes.NewReader(raw)); err != nil {
				b.Fatal(err)
			}
		}
		perLine(b)
	})
}
