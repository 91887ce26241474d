package report

import (
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

func TestLongestFirst(t *testing.T) {
	s := time.Second
	for _, tc := range []struct {
		name   string
		series []string
		prev   map[string]time.Duration
		want   []string
	}{
		{"first run", []string{"5.10", "6.1", "6.12", "latest"}, nil, []string{"5.10", "6.1", "6.12", "latest"}},
		{"by time", []string{"5.10", "6.1", "6.12", "latest"}, map[string]time.Duration{"5.10": 300 * s, "6.1": 420 * s, "6.12": 200 * s, "latest": 190 * s},
			[]string{"6.1", "5.10", "6.12", "latest"}},
		{"new kernel first", []string{"6.1", "latest"}, map[string]time.Duration{"6.1": 400 * s}, []string{"latest", "6.1"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if d := cmp.Diff(tc.want, LongestFirst(tc.series, tc.prev)); d != "" {
				t.Errorf("(-want +got):\n%s", d)
			}
		})
	}
}

func TestResultsRoundTrip(t *testing.T) {
	r := &Results{Started: time.Date(2026, 12, 2, 3, 0, 0, 0, time.UTC), Scenarios: []string{"harness", "icmp"},
		Kernels: []KernelResult{
			{Series: "6.1", Wall: 400 * time.Second, Features: []Feature{{Name: FeatTCX, Detail: "attach tcx: not supported"}},
				Tests: []TestResult{{Scenario: "icmp", Test: "TestICMP/6.1", Status: "pass"}}},
			{Series: "latest", Error: "resolve: x"},
		}}
	p := filepath.Join(t.TempDir(), "sub", "r.json")
	if err := WriteResults(p, r); err != nil {
		t.Fatal(err)
	}
	got, err := ReadResults(p)
	if err != nil {
		t.Fatal(err)
	}
	if d := cmp.Diff(r, got); d != "" {
		t.Errorf("round trip (-want +got):\n%s", d)
	}
	if f := got.Kernels[0].Feature(FeatTCX); f == nil || f.Have {
		t.Errorf("Feature(tcx) = %+v", f)
	}
	if got.Kernels[0].Feature(FeatKprobe) != nil {
		t.Error("Feature of an unprobed name is not nil")
	}
	if w := got.Walls([]string{"harness", "icmp"}); !slices.Equal([]string{"6.1"}, keys(w)) || w["6.1"] != 400*time.Second {
		t.Errorf("Walls = %v", w)
	}
	if w := got.Walls([]string{"harness"}); len(w) != 0 {
		t.Errorf("Walls of another selection = %v, want none", w)
	}
}

func keys(m map[string]time.Duration) []string {
	var k []string
	for s := range m {
		k = append(k, s)
	}
	slices.Sort(k)
	return k
}
