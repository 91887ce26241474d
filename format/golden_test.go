package format_test

import (
	"bytes"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/pwru-record/pwru-record/format"
	"github.com/pwru-record/pwru-record/internal/testsupport/fakecapture"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/format")

const goldenDir = "../testdata/format"

// fuzzMinimizeExecs bounds the minimisation of each interesting input
// of a fuzzing run (see [boundMinimization]).
const fuzzMinimizeExecs = "100x"

// boundMinimization sets -test.fuzzminimizetime to fuzzMinimizeExecs when
// fuzzing and the flag was not given. Go's default (60 s per input) makes
// a fuzzer whose inputs are whole captures of a KB or more spend nearly
// all its time minimising: measured on FuzzReader (1 worker, loaded
// machine), 8 executions in 40 s with the default, about 2000 a second
// with 100 executions per minimisation. Only the size of the inputs kept
// in the corpus is affected, not what each execution checks.
func boundMinimization(tb testing.TB) {
	fuzzing := flag.Lookup("test.fuzz")
	if fuzzing == nil || fuzzing.Value.String() == "" {
		return
	}
	set := false
	flag.Visit(func(fl *flag.Flag) { set = set || fl.Name == "test.fuzzminimizetime" })
	if set {
		return
	}
	if err := flag.Set("test.fuzzminimizetime", fuzzMinimizeExecs); err != nil {
		tb.Logf("bound fuzz minimisation: %v", err)
	}
}

// goldenStream is the fixed input of the golden capture. Changing it, or
// the encoding, requires `go test ./format -update` and a review of the
// diff of golden.txt.
func goldenStream() *fakecapture.Stream {
	return fakecapture.Generate(fakecapture.Config{Seed: 2024, SKBs: 12, Probes: 80, Concurrent: 3, PayloadPercent: 50, StackPercent: 30, BlobPercent: 30})
}

func goldenOptions() *format.WriterOptions {
	return &format.WriterOptions{ChunkEvents: 128, FlushInterval: -1}
}

// dump renders a capture as text: summary, sections and the first
// maxEvents events (all when negative), so that a change of the golden
// file can be reviewed.
func dump(tb testing.TB, f *format.File, maxEvents int) string {
	tb.Helper()
	var b strings.Builder
	sum := f.Summary()
	fmt.Fprintf(&b, "version %s events %d chunks %d packets %d stacks %d blobs %d complete %v\n",
		sum.Version, sum.Events, sum.Chunks, sum.Packets, sum.Stacks, sum.Blobs, sum.Complete)
	for _, s := range f.Sections() {
		fmt.Fprintf(&b, "section %v first %d last %d\n", s, s.First, s.Last)
	}
	it := f.Events(nil)
	var e format.Event
	for n := 0; n != maxEvents && it.Next(&e); n++ {
		fmt.Fprintf(&b, "%d skb=%#x track=%d probe=%d caller=%#x cpu=%d pid=%d comm=%q netns=%d ifindex=%d len=%d proto=%#x flags=%#x drop=%d tuple=%v:%d>%v:%d/%d stack=%d payload=%d blobs=%v\n",
			e.Time, e.SKB, e.TrackID, e.ProbeID, e.Caller, e.CPU, e.PID, e.Comm, e.Netns, e.Ifindex, e.Len, e.Protocol,
			e.Flags, e.DropReason, e.Tuple.Src, e.Tuple.Sport, e.Tuple.Dst, e.Tuple.Dport, e.Tuple.Proto, e.StackID, e.PayloadID, e.Blobs)
	}
	if err := it.Err(); err != nil {
		tb.Fatal(err)
	}
	return b.String()
}

// TestGolden writes the golden stream and compares the bytes with
// testdata/format/golden.pwru, and the text dump with golden.txt.
func TestGolden(t *testing.T) {
	got := writeStream(t, goldenStream(), goldenOptions())
	again := writeStream(t, goldenStream(), goldenOptions())
	if !bytes.Equal(got, again) {
		t.Fatal("writing the same stream twice gave different bytes")
	}
	text := dump(t, mustOpen(t, got, nil), 40)
	bin, txt := filepath.Join(goldenDir, "golden.pwru"), filepath.Join(goldenDir, "golden.txt")
	if *update {
		if err := os.WriteFile(bin, got, 0o644); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(txt, []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(bin)
	if err != nil {
		t.Fatalf("read golden file (create it with go test ./format -update): %v", err)
	}
	if !bytes.Equal(got, want) {
		wantText, _ := os.ReadFile(txt)
		t.Errorf("capture differs from %s (%d bytes, want %d); dump differs: %v; rerun with -update if the change is intended",
			bin, len(got), len(want), string(wantText) != text)
	}
	// The committed file must read back to the same events.
	if d, w := dump(t, mustOpen(t, want, nil), -1), dump(t, mustOpen(t, got, nil), -1); d != w {
		t.Errorf("golden file reads back differently than the stream it was written from")
	}
}

// FuzzReader opens arbitrary bytes and walks everything they decode to.
// The invariant: never panic, and an error xor a result for each call.
// The seeds are small ([fuzzSeed]: every section type and event column in
// 1.4 KB; a cut copy; a copy without trailer): the fuzzer spends its time
// minimising the inputs it finds interesting, at a cost that grows with
// their size, so seeds of several KB (golden.pwru, which TestGolden and
// the damaged-file sweep read) left it a few executions a minute. For
// the same reason a fuzzing run bounds each minimisation to
// [fuzzMinimizeExecs] executions unless -fuzzminimizetime is given.
func FuzzReader(f *testing.F) {
	boundMinimization(f)
	seed := fuzzSeed(f)
	f.Add(seed)
	f.Add(seed[:len(seed)/2])
	fl, err := format.NewFile(bytes.NewReader(seed), int64(len(seed)), nil)
	if err != nil {
		f.Fatal(err)
	}
	secs := fl.Sections()
	last := secs[len(secs)-1]
	f.Add(seed[:last.Offset+last.Size]) // a killed recorder: no trailer
	fl.Close()
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, data []byte) {
		for _, skip := range []bool{false, true} {
			fl, err := format.NewFile(bytes.NewReader(data), int64(len(data)), &format.ReaderOptions{SkipCorrupt: skip})
			if err != nil {
				if fl != nil {
					t.Fatal("NewFile returned both a file and an error")
				}
				continue
			}
			_, _ = walk(fl)
			checkProjection(t, fl)
			for _, m := range fl.BTFModules() {
				_, _ = fl.ModuleBTF(m)
			}
			fl.Close()
		}
	})
}
