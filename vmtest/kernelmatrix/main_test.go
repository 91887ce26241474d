package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/pwru-record/pwru-record/vmtest/report"
)

func testResults() *report.Results {
	return &report.Results{
		Started:   time.Date(2026, 12, 2, 3, 0, 0, 0, time.UTC),
		Scenarios: []string{"harness", "icmp"},
		Kernels: []report.KernelResult{
			{Series: "5.10", Package: "linux-image-5.10.0-32-cloud-amd64", Version: "5.10.223-1", Suite: "bullseye", Release: "5.10.0-32-cloud-amd64",
				Wall:     301 * time.Second,
				Features: []report.Feature{{Name: report.FeatModuleBTF, Have: false, Detail: "no module"}, {Name: report.FeatKprobe, Have: true}},
				Tests: []report.TestResult{
					{Scenario: "harness", Status: "pass"},
					{Scenario: "icmp", Status: "skip", Reason: "kernel lacks module-btf (no module)"},
				}},
			{Series: "latest", Package: "linux-image-7.2.13+deb14-cloud-amd64", Version: "7.2.13-1", Suite: "sid", Release: "7.2.13+deb14-cloud-amd64",
				Wall:     99 * time.Second,
				Features: []report.Feature{{Name: report.FeatModuleBTF, Have: true}},
				Tests:    []report.TestResult{{Scenario: "harness", Status: "pass"}, {Scenario: "icmp", Status: "fail"}}},
			{Series: "6.1", Error: "resolve kernel 6.1: x\ny"},
		},
	}
}

func TestRender(t *testing.T) {
	got := render(testResults())
	lines := strings.Split(got, "\n")
	find := func(prefix string) string {
		for _, l := range lines {
			if strings.HasPrefix(l, prefix) {
				return l
			}
		}
		t.Fatalf("no line starting %q in:\n%s", prefix, got)
		return ""
	}
	for _, tc := range []struct{ prefix, want string }{
		{"| package |", "| package | `linux-image-5.10.0-32-cloud-amd64` 5.10.223-1 (bullseye) | `linux-image-7.2.13+deb14-cloud-amd64` 7.2.13-1 (sid) | not fetched |"},
		{"| VM wall time |", "| VM wall time | 301 s | 99 s | did not run: resolve kernel 6.1: x |"},
		{"| module BTF", "| module BTF (`--kmods`, `--all-kmods`) | degrades: module functions are not traced; the recorder says how many, the capture records it | works | not probed |"},
		{"| kprobes |", "| kprobes | works | not probed | not probed |"},
		{"| harness |", "| harness | passes | passes | not run |"},
		{"| icmp |", "| icmp | skipped: kernel lacks module-btf (no module) | **fails** | not run |"},
	} {
		if l := find(tc.prefix); l != tc.want {
			t.Errorf("row:\n got %s\nwant %s", l, tc.want)
		}
	}
	if l := find("| scenarios run |"); l != "| scenarios run | 2 of 2 | 2 of 2 | 0 of 2 |" {
		t.Errorf("scenarios run row: %s", l)
	}
	if !strings.HasPrefix(got, "From the vmtest results of 2026-12-02 (2 scenarios;") {
		t.Errorf("header: %q", lines[0])
	}
}

func TestReplaceSection(t *testing.T) {
	doc := "a\n" + beginMarker + "\nold\n" + endMarker + "\nb\n"
	out, err := replaceSection([]byte(doc), "new\n")
	if err != nil {
		t.Fatal(err)
	}
	if want := "a\n" + beginMarker + "\nnew\n" + endMarker + "\nb\n"; string(out) != want {
		t.Errorf("got %q, want %q", out, want)
	}
	for _, bad := range []string{"no markers", endMarker + beginMarker, beginMarker} {
		if _, err := replaceSection([]byte(bad), "x"); err == nil {
			t.Errorf("replaceSection(%q) succeeded", bad)
		}
	}
}

func TestRun(t *testing.T) {
	dir := t.TempDir()
	res, readme := filepath.Join(dir, "r.json"), filepath.Join(dir, "README.md")
	if err := report.WriteResults(res, testResults()); err != nil {
		t.Fatal(err)
	}
	os.WriteFile(readme, []byte("# x\n"+beginMarker+"\n"+endMarker+"\n"), 0o644)
	if err := run(res, readme); err != nil {
		t.Fatal(err)
	}
	b, _ := os.ReadFile(readme)
	if !strings.Contains(string(b), "| uname -r | 5.10.0-32-cloud-amd64 | 7.2.13+deb14-cloud-amd64 |  |") {
		t.Errorf("README after run:\n%s", b)
	}
	if err := run(filepath.Join(dir, "missing.json"), readme); err == nil || !strings.Contains(err.Error(), "make vmtest") {
		t.Errorf("missing results: err = %v", err)
	}
}

func TestFeatureRowsCoverProbes(t *testing.T) {
	rows := map[string]bool{}
	for _, r := range featureRows {
		rows[r.name] = true
	}
	for _, f := range report.AllFeatures {
		if !rows[f] {
			t.Errorf("probed feature %s has no row in the kernel matrix", f)
		}
	}
	if len(rows) != len(report.AllFeatures) {
		t.Errorf("%d matrix rows for %d probed features", len(rows), len(report.AllFeatures))
	}
}

func TestMerge(t *testing.T) {
	t1 := time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)
	t2 := t1.Add(time.Hour)
	a := &report.Results{Started: t1, Scenarios: []string{"harness", "icmp"},
		Kernels: []report.KernelResult{{Series: "6.1", Version: "old"}, {Series: "6.12"}}}
	b := &report.Results{Started: t2, Scenarios: []string{"harness", "drop"},
		Kernels: []report.KernelResult{{Series: "latest"}, {Series: "6.1", Version: "new"}}}
	got := merge([]*report.Results{a, b})
	var series []string
	for _, k := range got.Kernels {
		series = append(series, k.Series+"="+k.Version)
	}
	if s := strings.Join(series, " "); s != "6.1=new 6.12= latest=" {
		t.Errorf("kernels %s", s)
	}
	if s := strings.Join(got.Scenarios, " "); s != "harness icmp drop" {
		t.Errorf("scenarios %s", s)
	}
	if !got.Started.Equal(t2) {
		t.Errorf("started %v, want %v", got.Started, t2)
	}
}
