package export

import (
	"bytes"
	"errors"
	"flag"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"sync"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	"github.com/parquet-go/parquet-go"

	"github.com/pwru-record/pwru-record/analyze"
	"github.com/pwru-record/pwru-record/internal/testsupport/fakecapture"
)

var update = flag.Bool("update", false, "rewrite the golden files")

// TestSchemaGolden pins the tables' Parquet schemas: a change here is a
// change of the contract in analyze/PARQUET.md.
func TestSchemaGolden(t *testing.T) {
	path := filepath.Join("testdata", "schema.golden")
	got := Schemas()
	if *update {
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if d := cmp.Diff(string(want), got); d != "" {
		t.Errorf("schema differs from %s (-want +got; -update rewrites it):\n%s", path, d)
	}
}

// vmCaptures are the real captures of testdata/vm.
func vmCaptures(tb testing.TB) []string {
	tb.Helper()
	paths, err := filepath.Glob(filepath.Join("..", "..", "testdata", "vm", "*.pwru"))
	if err != nil || len(paths) == 0 {
		tb.Fatalf("no captures in testdata/vm: %v", err)
	}
	return paths
}

func open(tb testing.TB, path string) *analyze.Capture {
	tb.Helper()
	c, err := analyze.Open(path)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { c.Close() })
	return c
}

// TestRoundTrip reads the tables back with parquet-go: one events row
// per event of the capture, one skbs row per skb Stats counts, in order.
func TestRoundTrip(t *testing.T) {
	for _, path := range vmCaptures(t) {
		t.Run(filepath.Base(path), func(t *testing.T) {
			c := open(t, path)
			var ev, sk, cp bytes.Buffer
			row, err := WriteTables(&ev, &sk, &cp, c, nil)
			if err != nil {
				t.Fatal(err)
			}
			st, err := analyze.CollectStats(c, nil)
			if err != nil {
				t.Fatal(err)
			}
			events := readAll[analyze.ExportEvent](t, ev.Bytes())
			skbs := readAll[analyze.ExportSKB](t, sk.Bytes())
			caps := readAll[analyze.ExportCapture](t, cp.Bytes())
			if uint64(len(events)) != st.Events || uint64(len(skbs)) != st.SKBs {
				t.Errorf("rows: %d events, %d skbs; stats: %d events, %d skbs", len(events), len(skbs), st.Events, st.SKBs)
			}
			if len(caps) != 1 || caps[0].CaptureID != analyze.CaptureID(c) || caps[0].ExportedEvents != int64(len(events)) {
				t.Errorf("captures table: %+v", caps)
			}
			if row.Events != int64(c.File.Summary().Events) {
				t.Errorf("captures row: %d events, capture has %d", row.Events, c.File.Summary().Events)
			}
			perFunc := map[string]uint64{}
			for i, e := range events {
				perFunc[e.Func]++
				if i > 0 && e.TimeNs < events[i-1].TimeNs {
					t.Fatalf("event %d: time %d before %d", i, e.TimeNs, events[i-1].TimeNs)
				}
			}
			if d := cmp.Diff(st.PerFunc, perFunc); d != "" {
				t.Errorf("events per function (-stats +parquet):\n%s", d)
			}
		})
	}
}

func readAll[T any](tb testing.TB, b []byte) []T {
	tb.Helper()
	rows, err := parquet.Read[T](bytes.NewReader(b), int64(len(b)))
	if err != nil {
		tb.Fatal(err)
	}
	return rows
}

// TestWriteCaptureExists: a second export of the same capture fails with
// ErrExists and leaves the files alone; Overwrite replaces them.
func TestWriteCaptureExists(t *testing.T) {
	dir := t.TempDir()
	c := open(t, vmCaptures(t)[0])
	res, err := WriteCapture(dir, c, nil)
	if err != nil {
		t.Fatal(err)
	}
	st, err := os.Stat(res.Files[0])
	if err != nil {
		t.Fatal(err)
	}
	if _, err := WriteCapture(dir, c, nil); !errors.Is(err, ErrExists) {
		t.Fatalf("second export: %v, want ErrExists", err)
	}
	if st2, err := os.Stat(res.Files[0]); err != nil || !st2.ModTime().Equal(st.ModTime()) {
		t.Fatalf("refused export changed %s: %v", res.Files[0], err)
	}
	if _, err := WriteCapture(dir, c, &Options{Overwrite: true}); err != nil {
		t.Fatalf("overwrite: %v", err)
	}
	left, _ := filepath.Glob(filepath.Join(dir, "*", "*", "*", ".*.tmp"))
	if len(left) > 0 {
		t.Errorf("temporary files left: %v", left)
	}
	for i, tb := range Tables {
		want := filepath.Join(dir, tb, Partition(c), res.ID+".parquet")
		if res.Files[i] != want {
			t.Errorf("file %d: %s, want %s", i, res.Files[i], want)
		}
	}
}

// TestEscape: partition values are percent-encoded like Hive's.
func TestEscape(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"node-1.example.com", "node-1.example.com"},
		{"", "unknown"},
		{"(none)", "(none)"},
		{"a/b=c:d", "a%2Fb%3Dc%3Ad"},
	} {
		if got := escape(tc.in); got != tc.want {
			t.Errorf("escape(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

// benchFile caches the synthetic capture of the benchmarks.
var benchFile struct {
	sync.Once
	path string
}

// TestMain removes the benchmarks' capture.
func TestMain(m *testing.M) {
	code := m.Run()
	if benchFile.path != "" {
		os.RemoveAll(filepath.Dir(benchFile.path))
	}
	os.Exit(code)
}

// synthCapture writes (once) a synthetic capture of about a million
// events and opens it.
func synthCapture(b *testing.B) *analyze.Capture {
	benchFile.Do(func() {
		dir, err := os.MkdirTemp("", "export-bench-")
		if err != nil {
			b.Fatal(err)
		}
		benchFile.path = filepath.Join(dir, "1m.pwru")
		writeSynth(b, benchFile.path, fakecapture.Config{Seed: 1, SKBs: 25000, PayloadPercent: 20})
	})
	c := open(b, benchFile.path)
	runtime.GC()
	return c
}

type countWriter struct{ n int64 }

func (w *countWriter) Write(p []byte) (int, error) { w.n += int64(len(p)); return len(p), nil }

// BenchmarkExport is the export's speed and size on a million synthetic
// events: events/s, Parquet bytes per event (events and skbs tables) and,
// for comparison, the capture's and print --json's bytes per event.
func BenchmarkExport(b *testing.B) {
	c := synthCapture(b)
	n := c.File.Summary().Events
	st, err := os.Stat(benchFile.path)
	if err != nil {
		b.Fatal(err)
	}
	var ev, sk countWriter
	cpu0 := processCPU()
	b.ResetTimer()
	for range b.N {
		ev, sk = countWriter{}, countWriter{}
		if _, err := WriteTables(&ev, &sk, io.Discard, c, nil); err != nil {
			b.Fatal(err)
		}
	}
	b.StopTimer()
	cpu := processCPU() - cpu0
	b.ReportMetric(float64(n)*float64(b.N)/b.Elapsed().Seconds(), "events/s")
	if cpu > 0 && cpu0 > 0 {
		// On a loaded machine, the per-core figure.
		b.ReportMetric(float64(n)*float64(b.N)/cpu.Seconds(), "cpu-events/s")
	}
	b.ReportMetric(float64(ev.n)/float64(n), "parquet-B/event")
	b.ReportMetric(float64(ev.n+sk.n)/float64(n), "parquet+skbs-B/event")
	b.ReportMetric(float64(st.Size())/float64(n), "capture-B/event")
	var js countWriter
	if err := analyze.Print(&js, c, &analyze.PrintOptions{JSON: true, OutputMeta: true, OutputTuple: true}); err != nil {
		b.Fatal(err)
	}
	b.ReportMetric(float64(js.n)/float64(n), "json-B/event")
}

// rowsSink keeps copies of the rows analyze.Export gives.
type rowsSink struct {
	events []analyze.ExportEvent
	skbs   []analyze.ExportSKB
}

func (s *rowsSink) Event(r *analyze.ExportEvent) error {
	e := *r
	if r.Retval != nil {
		e.Retval = ptr(*r.Retval)
	}
	s.events = append(s.events, e)
	return nil
}

func (s *rowsSink) SKB(r *analyze.ExportSKB) error {
	s.skbs = append(s.skbs, *r)
	return nil
}

func ptr[T any](v T) *T { return &v }

// TestRowsRoundTrip: every field of every row analyze.Export gives is in
// the files, read back with parquet-go's reflection reader (independent
// of the column writer), for the real captures and a synthetic one, with
// row groups of 4096 rows (the last one partial) and events pages of
// 1024 rows.
func TestRowsRoundTrip(t *testing.T) {
	paths := vmCaptures(t)
	synthPath := filepath.Join(t.TempDir(), "synth.pwru")
	writeSynth(t, synthPath, fakecapture.Config{Seed: 3, SKBs: 500, PayloadPercent: 30, DropPercent: 10})
	for _, path := range append(paths, synthPath) {
		t.Run(filepath.Base(path), func(t *testing.T) {
			c := open(t, path)
			var want rowsSink
			if _, err := analyze.Export(c, nil, &want); err != nil {
				t.Fatal(err)
			}
			if len(want.events) == 0 || len(want.skbs) == 0 {
				t.Fatalf("%d events, %d skbs: the test proves nothing", len(want.events), len(want.skbs))
			}
			var ev, sk bytes.Buffer
			const groupRows = 4 * batch
			if _, err := writeTables(&ev, &sk, io.Discard, c, nil, groupRows, 1); err != nil {
				t.Fatal(err)
			}
			f, err := parquet.OpenFile(bytes.NewReader(ev.Bytes()), int64(ev.Len()))
			if err != nil {
				t.Fatal(err)
			}
			if n, want := len(f.RowGroups()), (len(want.events)+groupRows-1)/groupRows; n != want {
				t.Errorf("events table: %d row groups, want %d", n, want)
			}
			for _, col := range f.RowGroups()[0].ColumnChunks() {
				idx, err := col.OffsetIndex()
				if err != nil {
					t.Fatal(err)
				}
				if n, want := idx.NumPages(), min(len(want.events), groupRows)/batch; n < want {
					t.Errorf("events column %d: %d pages in the first row group, want %d", col.Column(), n, want)
				}
			}
			events := readAll[analyze.ExportEvent](t, ev.Bytes())
			skbs := readAll[analyze.ExportSKB](t, sk.Bytes())
			// A NULL stack is nil, an empty one []string{}.
			if d := cmp.Diff(want.events, events); d != "" {
				t.Errorf("events table (-rows +parquet):\n%s", d)
			}
			if d := cmp.Diff(want.skbs, skbs, cmpopts.EquateEmpty()); d != "" {
				t.Errorf("skbs table (-rows +parquet):\n%s", d)
			}
		})
	}
}

// writeSynth writes a synthetic capture.
func writeSynth(tb testing.TB, path string, cfg fakecapture.Config) {
	tb.Helper()
	if err := fakecapture.WriteFile(path, fakecapture.Generate(cfg), nil); err != nil {
		tb.Fatal(err)
	}
}

// nullSink discards the rows.
type nullSink struct{}

func (nullSink) Event(*analyze.ExportEvent) error { return nil }
func (nullSink) SKB(*analyze.ExportSKB) error     { return nil }

// BenchmarkExportRows is BenchmarkExport without the Parquet writer: the
// cost of computing the rows (scanner, skb tracker, journeys, symbols),
// which bounds the export's speed.
func BenchmarkExportRows(b *testing.B) {
	c := synthCapture(b)
	n := c.File.Summary().Events
	cpu0 := processCPU()
	b.ResetTimer()
	for range b.N {
		if _, err := analyze.Export(c, nil, nullSink{}); err != nil {
			b.Fatal(err)
		}
	}
	b.StopTimer()
	b.ReportMetric(float64(n)*float64(b.N)/b.Elapsed().Seconds(), "events/s")
	if cpu := processCPU() - cpu0; cpu > 0 && cpu0 > 0 {
		b.ReportMetric(float64(n)*float64(b.N)/cpu.Seconds(), "cpu-events/s")
	}
}

// TestEmptySelection: an export whose filter selects nothing writes
// events and skbs files without rows that read back.
func TestEmptySelection(t *testing.T) {
	c := open(t, vmCaptures(t)[0])
	var ev, sk bytes.Buffer
	row, err := WriteTables(&ev, &sk, io.Discard, c, &analyze.ExportOptions{Filter: analyze.Filter{Func: "^no such function$"}})
	if err != nil {
		t.Fatal(err)
	}
	if row.ExportedEvents != 0 || row.ExportedSKBs != 0 {
		t.Fatalf("captures row: %d events, %d skbs exported, want none", row.ExportedEvents, row.ExportedSKBs)
	}
	if events := readAll[analyze.ExportEvent](t, ev.Bytes()); len(events) != 0 {
		t.Errorf("events table: %d rows, want 0", len(events))
	}
	if skbs := readAll[analyze.ExportSKB](t, sk.Bytes()); len(skbs) != 0 {
		t.Errorf("skbs table: %d rows, want 0", len(skbs))
	}
}
