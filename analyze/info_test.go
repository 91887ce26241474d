package analyze

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
)

func TestOptionValue(t *testing.T) {
	tests := []struct{ in, want string }{
		{"{[] { false false} false false}", ""},
		{"{[skb->hash skb->len] { false false} true false}", "skb->hash,skb->len"},
		{"skb->hash,skb->len", "skb->hash,skb->len"},
		{"8M", "8M"},
	}
	for _, tt := range tests {
		if got := OptionValue(tt.in); got != tt.want {
			t.Errorf("OptionValue(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

// TestInfoDetails: options as typed, every failed probe with its error,
// the interfaces of each netns, and the same as JSON.
func TestInfoDetails(t *testing.T) {
	vm := openVM(t, "drop-6.1.pwru")
	var b bytes.Buffer
	if err := Info(&b, vm, &InfoOptions{NoScan: true}); err != nil {
		t.Fatal(err)
	}
	out := b.String()
	for _, want := range []string{
		"options:      --backend=auto\n",
		"--filter-kprobe-batch=10 ",
		"netns interfaces:\n  4026531840: lo:1 dummy0:2\n  4026532136 (drop-a): lo:1 veth-a:2\n  4026532190 (drop-b): lo:1 veth-b:2\n",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("info lacks %q:\n%s", want, out)
		}
	}
	if strings.Contains(out, "{[]") || strings.Contains(out, "kmods=") {
		t.Errorf("info shows Go values or options that were off:\n%s", out)
	}
	c := mustCapture(t, "basic")
	b.Reset()
	if err := Info(&b, c, nil); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(b.String(), "failed probes:\n  tcp_gro_receive: no such function\n") {
		t.Errorf("info does not list the failed probe:\n%s", b.String())
	}
	doc, err := InfoJSON(c, nil)
	if err != nil {
		t.Fatal(err)
	}
	raw, err := json.Marshal(doc)
	if err != nil {
		t.Fatal(err)
	}
	var back struct {
		Failed []FailedProbe     `json:"failed_probes"`
		Netns  []NetnsInterfaces `json:"netns"`
		SKBs   uint64            `json:"skbs"`
		Events uint64            `json:"events"`
		Opts   map[string]string `json:"options"`
		Kernel map[string]string `json:"kernel"`
		Top    []map[string]any  `json:"top_functions"`
	}
	if err := json.Unmarshal(raw, &back); err != nil {
		t.Fatal(err)
	}
	if len(back.Failed) != 1 || back.Failed[0] != (FailedProbe{"tcp_gro_receive", "no such function"}) {
		t.Errorf("failed_probes = %+v", back.Failed)
	}
	if len(back.Netns) != 2 || back.Netns[1].Name != "pod1" || strings.Join(back.Netns[1].Interfaces, " ") != "lo:1 veth0:4" {
		t.Errorf("netns = %+v", back.Netns)
	}
	if back.SKBs != 6 || back.Events != c.File.Summary().Events || back.Kernel["release"] != "6.1.0-test-amd64" || back.Opts["output-skb"] != "true" || len(back.Top) == 0 {
		t.Errorf("info json = %s", raw)
	}
}

func TestCompareSources(t *testing.T) {
	a, b := mustCapture(t, "good"), mustCapture(t, "bad")
	if n := CompareSources(a, b); n != "" {
		t.Errorf("same kernel and probes: %q", n)
	}
	vm1, vm2 := openVM(t, "drop-6.1.pwru"), openVM(t, "icmp-6.12.pwru")
	n := CompareSources(vm1, vm2)
	if !strings.Contains(n, "different kernels (") || !strings.Contains(n, "6.1.0-56-cloud-amd64") || !strings.Contains(n, "different probe sets (") {
		t.Errorf("CompareSources = %q", n)
	}
}

// FuzzOptionValue: any recorded value renders without panic, and a
// rendered value renders to itself.
func FuzzOptionValue(f *testing.F) {
	f.Add("{[] { false false} false false}")
	f.Add("{[a b] { false false} true false}")
	f.Add("8M")
	f.Fuzz(func(t *testing.T, v string) {
		once := OptionValue(v)
		if twice := OptionValue(once); twice != once && goSliceValue.MatchString(v) {
			t.Errorf("OptionValue(%q) = %q, then %q", v, once, twice)
		}
	})
}
