package main

import (
	"bytes"
	"path/filepath"
	"strings"
	"testing"
)

// TestPcapStdout: pcap without -o writes to stdout when it is not a
// terminal, and refuses a terminal with one line.
func TestPcapStdout(t *testing.T) {
	dir := t.TempDir()
	mustScenario(t, dir, "basic")
	out, errOut, code := runCLI(t, dir, "pcap", "basic.pwru")
	if code != 0 || !strings.HasPrefix(out, "\x0a\x0d\x0d\x0a") {
		t.Errorf("pcap to a pipe: exit %d, stderr %q, stdout starts %q", code, errOut, out[:min(len(out), 8)])
	}
	var o, e bytes.Buffer
	code = run([]string{"pwru-replay", "pcap", "basic.pwru"}, &o, &e, true)
	if code != 2 || o.Len() != 0 || strings.Count(e.String(), "\n") != 1 || !strings.Contains(e.String(), "stdout is a terminal") {
		t.Errorf("pcap to a terminal: exit %d, stdout %d bytes, stderr %q", code, o.Len(), e.String())
	}
}

// TestPwruFilterAliases: pwru's --filter-* names select like the short ones.
func TestPwruFilterAliases(t *testing.T) {
	dir := t.TempDir()
	mustScenario(t, dir, "basic")
	for _, tt := range []struct{ pwru, short []string }{
		{[]string{"--filter-func", "^ip_rcv$"}, []string{"--func", "^ip_rcv$"}},
		{[]string{"--filter-netns", "pod1"}, []string{"--netns", "pod1"}},
		{[]string{"--filter-mark", "0xa00"}, []string{"--mark", "0xa00"}},
		{[]string{"--filter-ifname", "veth0"}, []string{"--ifname", "veth0"}},
	} {
		want, _, code := runCLI(t, dir, append(append([]string{"print"}, tt.short...), "basic.pwru")...)
		got, errOut, code2 := runCLI(t, dir, append(append([]string{"print"}, tt.pwru...), "basic.pwru")...)
		if code != 0 || code2 != 0 || got != want || strings.Count(want, "\n") < 2 {
			t.Errorf("%v: exit %d, stderr %q; output differs from %v:\n%s\nwant:\n%s", tt.pwru, code2, errOut, tt.short, got, want)
		}
	}
}

// TestMissingDataNote: an option whose data the capture lacks is one
// note line on stderr; a pcap filter over a capture without payloads warns.
func TestMissingDataNote(t *testing.T) {
	dir := t.TempDir()
	mustScenario(t, dir, "basic")
	if _, errOut, code := runCLI(t, dir, "slice", "--no-payload", "-o", "np.pwru", "basic.pwru"); code != 0 {
		t.Fatalf("slice: %d %s", code, errOut)
	}
	_, errOut, code := runCLI(t, dir, "print", "np.pwru", "icmp")
	if code != 0 || !strings.Contains(errOut, `pwru-replay: note: pcap filter "icmp": np.pwru has no payloads`) {
		t.Errorf("exit %d, stderr %q", code, errOut)
	}
	_, errOut, _ = runCLI(t, dir, "print", "--output-tcp-flags", "np.pwru")
	if !strings.Contains(errOut, "pwru-replay: note: --output-tcp-flags: np.pwru has no payloads") {
		t.Errorf("stderr %q", errOut)
	}
}

func TestStatsTopZero(t *testing.T) {
	vm, err := filepath.Abs(filepath.Join("..", "..", "testdata", "vm", "icmp-6.12.pwru"))
	if err != nil {
		t.Fatal(err)
	}
	out, _, code := runCLI(t, t.TempDir(), "stats", "--top", "0", vm)
	if code != 0 || strings.Contains(out, " more\n") {
		t.Errorf("stats --top 0: exit %d, still cut:\n%s", code, out)
	}
}
