package duckdbtest

import (
	"bytes"
	"database/sql"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"

	_ "github.com/duckdb/duckdb-go/v2"
	"github.com/google/go-cmp/cmp"

	"github.com/pwru-record/pwru-record/analyze"
	"github.com/pwru-record/pwru-record/analyze/export"
	"github.com/pwru-record/pwru-record/internal/testsupport/fakecapture"
)

// root is the main module's directory.
const root = "../../.."

// vmCaptures are the real captures of testdata/vm.
func vmCaptures(tb testing.TB) []string {
	tb.Helper()
	paths, err := filepath.Glob(filepath.Join(root, "testdata", "vm", "*.pwru"))
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

// exportTo adds c to the dataset in dir and returns its capture id.
func exportTo(tb testing.TB, dir string, c *analyze.Capture, flt analyze.Filter) string {
	tb.Helper()
	res, err := export.WriteCapture(dir, c, &export.Options{Export: analyze.ExportOptions{Filter: flt}})
	if err != nil {
		tb.Fatal(err)
	}
	return res.ID
}

// openDB opens an in-memory DuckDB with the views events, skbs and
// captures over the dataset in dir, as the README shows them.
func openDB(tb testing.TB, dir string) *sql.DB {
	tb.Helper()
	db, err := sql.Open("duckdb", "")
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { db.Close() })
	for _, t := range export.Tables {
		q := fmt.Sprintf("CREATE VIEW %s AS SELECT * FROM read_parquet('%s/%s/*/*/*.parquet', hive_partitioning = true)", t, dir, t)
		if _, err := db.Exec(q); err != nil {
			tb.Fatalf("%s: %v", q, err)
		}
	}
	return db
}

// countBy runs a query of (key, count) rows.
func countBy(tb testing.TB, db *sql.DB, q string, args ...any) map[string]uint64 {
	tb.Helper()
	rows, err := db.Query(q, args...)
	if err != nil {
		tb.Fatalf("%s: %v", q, err)
	}
	defer rows.Close()
	m := map[string]uint64{}
	for rows.Next() {
		var k sql.NullString
		var n int64
		if err := rows.Scan(&k, &n); err != nil {
			tb.Fatal(err)
		}
		m[k.String] += uint64(n)
	}
	if err := rows.Err(); err != nil {
		tb.Fatal(err)
	}
	return m
}

func one[T any](tb testing.TB, db *sql.DB, q string, args ...any) T {
	tb.Helper()
	var v T
	if err := db.QueryRow(q, args...).Scan(&v); err != nil {
		tb.Fatalf("%s: %v", q, err)
	}
	return v
}

// checkStats compares SQL over the dataset with analyze.CollectStats of
// the same capture and filter.
func checkStats(t *testing.T, db *sql.DB, c *analyze.Capture, id string, flt analyze.Filter) {
	t.Helper()
	st, err := analyze.CollectStats(c, &flt)
	if err != nil {
		t.Fatal(err)
	}
	if st.Events == 0 {
		t.Fatalf("%s: no events selected: the test proves nothing", c.Path)
	}
	for _, tc := range []struct {
		name string
		want map[string]uint64
		q    string
	}{
		{"functions", st.PerFunc, "SELECT func, count(*) FROM events WHERE capture_id = ? GROUP BY func"},
		{"drop reasons", st.PerReason, "SELECT reason, count(*) FROM skbs WHERE capture_id = ? AND fate = 'dropped' AND reason IS NOT NULL GROUP BY reason"},
		{"flows", st.PerFlow, "SELECT flow, count(*) FROM skbs WHERE capture_id = ? GROUP BY flow"},
		{"fates", st.PerFate, "SELECT fate, count(*) FROM skbs WHERE capture_id = ? GROUP BY fate"},
		{"totals", map[string]uint64{"events": st.Events, "skbs": st.SKBs},
			"SELECT 'events', count(*) FROM events WHERE capture_id = $1 UNION ALL SELECT 'skbs', count(*) FROM skbs WHERE capture_id = $1"},
	} {
		got := countBy(t, db, tc.q, id)
		if d := cmp.Diff(tc.want, got); d != "" {
			t.Errorf("%s: %s per SQL differ from stats (-stats +sql):\n%s", c.Path, tc.name, d)
		}
	}
	exported := one[int64](t, db, "SELECT exported_events FROM captures WHERE capture_id = ?", id)
	if uint64(exported) != st.Events {
		t.Errorf("%s: captures.exported_events = %d, stats counted %d", c.Path, exported, st.Events)
	}
}

// TestStatsVM: for the real captures, in one dataset, the counts per
// function, drop reason, flow and fate in SQL are pwru-replay stats',
// with and without filters.
func TestStatsVM(t *testing.T) {
	dir := t.TempDir()
	type exp struct {
		c   *analyze.Capture
		id  string
		flt analyze.Filter
	}
	var all []exp
	for _, path := range vmCaptures(t) {
		c := open(t, path)
		all = append(all, exp{c, exportTo(t, dir, c, analyze.Filter{}), analyze.Filter{}})
	}
	// The same filters as every command: a second dataset per filter.
	for _, f := range []struct {
		name string
		flt  analyze.Filter
	}{{"dropped", analyze.Filter{Dropped: true}}, {"func", analyze.Filter{Func: "^(ip_|kfree_skb)"}}} {
		flt := f.flt
		fdir := t.TempDir()
		for _, path := range vmCaptures(t) {
			c := open(t, path)
			if st, _ := analyze.CollectStats(c, &flt); st == nil || st.Events == 0 {
				continue
			}
			id := exportTo(t, fdir, c, flt)
			t.Run(filepath.Base(path)+"/"+f.name, func(t *testing.T) {
				checkStats(t, openDB(t, fdir), c, id, flt)
			})
		}
	}
	db := openDB(t, dir)
	if n := one[int64](t, db, "SELECT count(*) FROM captures"); n != int64(len(all)) {
		t.Errorf("captures table: %d rows, exported %d captures", n, len(all))
	}
	for _, e := range all {
		t.Run(filepath.Base(e.c.Path), func(t *testing.T) { checkStats(t, db, e.c, e.id, e.flt) })
	}
}

// TestStatsMillion: the same on a synthetic capture of a million events.
func TestStatsMillion(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: a million events")
	}
	path := filepath.Join(t.TempDir(), "1m.pwru")
	writeSynth(t, path, fakecapture.Config{Seed: 7, SKBs: 25000, PayloadPercent: 20}, "")
	c := open(t, path)
	if n := c.File.Summary().Events; n < 900_000 {
		t.Fatalf("synthetic capture has %d events, want about a million", n)
	}
	dir := t.TempDir()
	id := exportTo(t, dir, c, analyze.Filter{})
	checkStats(t, openDB(t, dir), c, id, analyze.Filter{})
}

// TestStackNull: an event's stack is NULL when the capture has none for
// it, the list of its frames when it has one: each exported event is
// compared with the capture's event of the same time and CPU, on the
// real captures (recorded without stacks) and a synthetic one where some
// skbs have a stack.
func TestStackNull(t *testing.T) {
	synthPath := filepath.Join(t.TempDir(), "stacks.pwru")
	writeSynth(t, synthPath, fakecapture.Config{Seed: 11, SKBs: 2000, StackPercent: 30}, "")
	type key struct {
		ns  int64
		cpu int32
	}
	for _, path := range append(vmCaptures(t), synthPath) {
		t.Run(filepath.Base(path), func(t *testing.T) {
			c := open(t, path)
			// frames of the capture's events by time and CPU; -1: no stack.
			frames := map[key][]int{}
			it := c.File.Events(nil)
			for e := it.NextShared(); e != nil; e = it.NextShared() {
				n := -1
				if e.StackID != 0 {
					ips, err := c.File.Stack(e.StackID)
					if err != nil {
						t.Fatalf("stack %d: %v", e.StackID, err)
					}
					n = 0
					for _, ip := range ips {
						if ip != 0 {
							n++
						}
					}
				}
				k := key{int64(e.Time), int32(e.CPU)}
				frames[k] = append(frames[k], n)
			}
			if err := it.Err(); err != nil {
				t.Fatal(err)
			}
			dir := t.TempDir()
			id := exportTo(t, dir, c, analyze.Filter{})
			db := openDB(t, dir)
			rows, err := db.Query("SELECT time_ns, cpu, CASE WHEN stack IS NULL THEN -1 ELSE len(stack) END FROM events WHERE capture_id = ?", id)
			if err != nil {
				t.Fatal(err)
			}
			defer rows.Close()
			var nulls, lists int
			for rows.Next() {
				var k key
				var n int
				if err := rows.Scan(&k.ns, &k.cpu, &n); err != nil {
					t.Fatal(err)
				}
				if !slices.Contains(frames[k], n) {
					t.Fatalf("event at %d on CPU %d: stack of %d frames (-1: NULL), the capture's: %v", k.ns, k.cpu, n, frames[k])
				}
				if n < 0 {
					nulls++
				} else {
					lists++
				}
			}
			if err := rows.Err(); err != nil {
				t.Fatal(err)
			}
			if nulls == 0 || (path == synthPath && lists == 0) {
				t.Fatalf("%d events with a NULL stack, %d with one: the test proves nothing", nulls, lists)
			}
		})
	}
}

// journeyKey is a journey as "skb|func,func,...|fate|reason".
func journeyKey(skb string, path []string, fate, reason string) string {
	return skb + "|" + strings.Join(path, ",") + "|" + fate + "|" + reason
}

// TestPaths: the skbs table's paths are pwru-replay paths --no-group's,
// skb for skb.
func TestPaths(t *testing.T) {
	var basic bytes.Buffer
	if err := fakecapture.WriteScenario(&basic, "basic"); err != nil {
		t.Fatal(err)
	}
	basicPath := filepath.Join(t.TempDir(), "basic.pwru")
	if err := os.WriteFile(basicPath, basic.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, path := range append(vmCaptures(t), basicPath) {
		t.Run(filepath.Base(path), func(t *testing.T) {
			c := open(t, path)
			var out bytes.Buffer
			if err := analyze.Paths(&out, c, &analyze.PathsOptions{NoGroup: true, JSON: true}); err != nil {
				t.Fatal(err)
			}
			var want []string
			dec := json.NewDecoder(&out)
			for dec.More() {
				var j analyze.JourneyJSON
				if err := dec.Decode(&j); err != nil {
					t.Fatal(err)
				}
				var funcs []string
				for _, s := range j.Steps {
					// paths shows the drop reason after the function.
					f, _, _ := strings.Cut(s.Func, "(")
					funcs = append(funcs, f)
				}
				want = append(want, journeyKey(j.SKBs[0], funcs, j.Fate, j.Reason))
			}
			if len(want) == 0 {
				t.Fatal("paths shows no journey: the test proves nothing")
			}
			dir := t.TempDir()
			id := exportTo(t, dir, c, analyze.Filter{})
			db := openDB(t, dir)
			rows, err := db.Query("SELECT skb, path, fate, coalesce(reason, '') FROM skbs WHERE capture_id = ?", id)
			if err != nil {
				t.Fatal(err)
			}
			defer rows.Close()
			var got []string
			for rows.Next() {
				var skb, fate, reason string
				var path []any
				if err := rows.Scan(&skb, &path, &fate, &reason); err != nil {
					t.Fatal(err)
				}
				funcs := make([]string, len(path))
				for i, f := range path {
					funcs[i] = f.(string)
				}
				got = append(got, journeyKey(skb, funcs, fate, reason))
			}
			if err := rows.Err(); err != nil {
				t.Fatal(err)
			}
			slices.Sort(want)
			slices.Sort(got)
			if d := cmp.Diff(want, got); d != "" {
				t.Errorf("journeys (-paths +sql):\n%s", d)
			}
		})
	}
}

// diffBadReasons is what diff says about drop reasons: those of the bad
// run's drops that the good run does not drop with, over the flows diff
// reports (compared both ways).
func diffBadReasons(t *testing.T, good, bad *analyze.Capture) []string {
	t.Helper()
	reasons := func(a, b *analyze.Capture) map[string]bool {
		r, err := analyze.CompareCaptures(a, b, &analyze.DiffOptions{})
		if err != nil {
			t.Fatal(err)
		}
		m := map[string]bool{}
		for _, f := range r.Flows {
			for _, d := range f.BadDrops {
				m[d.Reason] = true
			}
		}
		return m
	}
	inBad, inGood := reasons(good, bad), reasons(bad, good)
	var out []string
	for r := range inBad {
		if !inGood[r] {
			out = append(out, r)
		}
	}
	slices.Sort(out)
	return out
}

// TestOnlyInBadRun: in a two-capture dataset, "which drop reasons are only
// in the bad run" in SQL is what diff reports.
func TestOnlyInBadRun(t *testing.T) {
	tmp := t.TempDir()
	write := func(name string) string {
		var b bytes.Buffer
		if err := fakecapture.WriteScenario(&b, name); err != nil {
			t.Fatal(err)
		}
		p := filepath.Join(tmp, name+".pwru")
		if err := os.WriteFile(p, b.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	vm := filepath.Join(root, "testdata", "vm")
	for _, tc := range []struct{ name, good, bad string }{
		{"scenarios", write("good"), write("bad")},
		{"vm", filepath.Join(vm, "killed-6.1.pwru"), filepath.Join(vm, "drop-6.1.pwru")},
	} {
		t.Run(tc.name, func(t *testing.T) {
			good, bad := open(t, tc.good), open(t, tc.bad)
			want := diffBadReasons(t, good, bad)
			if len(want) == 0 {
				t.Fatal("diff reports no drop reason only in the bad run: the test proves nothing")
			}
			dir := t.TempDir()
			gid, bid := exportTo(t, dir, good, analyze.Filter{}), exportTo(t, dir, bad, analyze.Filter{})
			if gid == bid {
				t.Fatalf("both captures have id %s", gid)
			}
			db := openDB(t, dir)
			got := slices.Sorted(func(yield func(string) bool) {
				for k := range countBy(t, db, onlyInBadSQL, bid, gid) {
					if !yield(k) {
						return
					}
				}
			})
			if d := cmp.Diff(want, got); d != "" {
				t.Errorf("drop reasons only in the bad run (-diff +sql):\n%s", d)
			}
		})
	}
}

// onlyInBadSQL is the README's third question: the drop reasons of the
// bad capture ($1) that the good one ($2) never drops with, with counts.
const onlyInBadSQL = `SELECT reason, count(*) FROM skbs
WHERE capture_id = $1 AND fate = 'dropped' AND reason IS NOT NULL
  AND reason NOT IN (SELECT reason FROM skbs WHERE capture_id = $2 AND fate = 'dropped' AND reason IS NOT NULL)
GROUP BY reason`

// writeSynth writes a synthetic capture (host "" = the generator's).
func writeSynth(tb testing.TB, path string, cfg fakecapture.Config, host string) {
	tb.Helper()
	s := fakecapture.Generate(cfg)
	if host != "" {
		s.Header.Hostname = host
	}
	if err := fakecapture.WriteFile(path, s, nil); err != nil {
		tb.Fatal(err)
	}
}

// fleet is a dataset of ten synthetic captures of a million events each,
// from ten hosts, written once per test binary.
var fleet struct {
	sync.Once
	tmp    string
	dir    string
	events int64
}

// TestMain removes the benchmarks' dataset.
func TestMain(m *testing.M) {
	code := m.Run()
	if fleet.tmp != "" {
		os.RemoveAll(fleet.tmp)
	}
	os.Exit(code)
}

func fleetDataset(b *testing.B) string {
	fleet.Do(func() {
		tmp, err := os.MkdirTemp("", "duckdb-fleet-")
		if err != nil {
			b.Fatal(err)
		}
		fleet.tmp, fleet.dir = tmp, filepath.Join(tmp, "dataset")
		for i := range 10 {
			p := filepath.Join(tmp, "capture.pwru")
			writeSynth(b, p, fakecapture.Config{Seed: uint64(100 + i), SKBs: 25000, PayloadPercent: 20, DropPercent: 5 + i}, fmt.Sprintf("node-%d", i))
			c, err := analyze.Open(p)
			if err != nil {
				b.Fatal(err)
			}
			res, err := export.WriteCapture(fleet.dir, c, nil)
			c.Close()
			if err != nil {
				b.Fatal(err)
			}
			fleet.events += res.Capture.ExportedEvents
		}
	})
	return fleet.dir
}

// The README's three questions.
var readmeQueries = []struct{ name, sql string }{
	{"drops-per-host-kernel", `SELECT host, kernel, reason, count(*) AS skbs FROM skbs
WHERE fate = 'dropped' GROUP BY ALL ORDER BY skbs DESC`},
	{"drop-functions", `SELECT host, func, drop_reason, count(*) AS events FROM events
WHERE drop_reason IS NOT NULL GROUP BY ALL ORDER BY events DESC LIMIT 20`},
	{"only-in-bad-run", `SELECT reason, count(*) FROM skbs
WHERE host = 'node-9' AND fate = 'dropped' AND reason IS NOT NULL
  AND reason NOT IN (SELECT reason FROM skbs WHERE host = 'node-0' AND fate = 'dropped' AND reason IS NOT NULL)
GROUP BY reason`},
}

// BenchmarkQueries times the README's questions with DuckDB over ten
// million exported events (one thread: the figures are per core).
func BenchmarkQueries(b *testing.B) {
	dir := fleetDataset(b)
	db := openDB(b, dir)
	if _, err := db.Exec("SET threads = 1"); err != nil {
		b.Fatal(err)
	}
	for _, q := range readmeQueries {
		b.Run(q.name, func(b *testing.B) {
			for range b.N {
				rows, err := db.Query(q.sql)
				if err != nil {
					b.Fatal(err)
				}
				n := 0
				for rows.Next() {
					n++
				}
				if err := rows.Err(); err != nil {
					b.Fatal(err)
				}
				rows.Close()
			}
			b.ReportMetric(float64(fleet.events), "events")
		})
	}
}
