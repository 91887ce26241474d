package analyze

import (
	"bytes"
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// TestDropReasonMerge: the skb:kfree_skb tracepoint's reason is shown on
// the dropping function's own line, as pwru prints it; a tracepoint hit
// without its function's event is shown as the tracepoint.
func TestDropReasonMerge(t *testing.T) {
	c := mustCapture(t, "tracepoint")
	out := printString(t, c, PrintOptions{})
	var funcs []string
	for _, line := range strings.Split(strings.TrimSpace(out), "\n")[1:] {
		f := strings.Fields(line)
		funcs = append(funcs, f[0][len(f[0])-3:]+" "+f[len(f)-1])
	}
	want := []string{
		"000 ip_rcv",
		"100 ip_rcv",
		"000 kfree_skb_reason(SKB_DROP_REASON_NETFILTER_DROP)",
		"100 udp_rcv",
		"000 kfree_skbmem",
		"100 consume_skb",
		"100 kfree_skbmem",
		"200 ip_rcv",
		"200 skb:kfree_skb(SKB_DROP_REASON_NO_SOCKET)",
		"200 kfree_skbmem",
		"300 ip_rcv",
		"300 kfree_skb_reason",
		"300 ip_rcv",
	}
	if diff := cmp.Diff(want, funcs); diff != "" {
		t.Errorf("FUNC column (-want +got):\n%s\n%s", diff, out)
	}
}

// TestDropReasonRealCapture: on a 6.1 capture every drop shows on
// kfree_skb_reason's line, and no event is named after the tracepoint; in
// JSON func is the bare name and the reason its own field.
func TestDropReasonRealCapture(t *testing.T) {
	c, err := Open(filepath.Join("..", "testdata", "vm", "drop-6.1.pwru"))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	out := printString(t, c, PrintOptions{OutputMeta: true, OutputTuple: true})
	if n := strings.Count(out, " kfree_skb_reason(SKB_DROP_REASON_NETFILTER_DROP)\n"); n != 4 {
		t.Errorf("%d kfree_skb_reason(SKB_DROP_REASON_NETFILTER_DROP) lines, want 4 (one per dropped skb)", n)
	}
	if strings.Contains(out, " kfree_skb(") || strings.Contains(out, "skb:kfree_skb") {
		t.Errorf("the tracepoint is shown as an event of its own:\n%s", out)
	}
	var buf bytes.Buffer
	if err := Print(&buf, c, &PrintOptions{JSON: true}); err != nil {
		t.Fatal(err)
	}
	drops := 0
	for _, line := range strings.Split(strings.TrimSpace(buf.String()), "\n") {
		var ev struct {
			Func   string `json:"func"`
			Reason string `json:"drop_reason"`
		}
		if err := json.Unmarshal([]byte(line), &ev); err != nil {
			t.Fatalf("%v: %s", err, line)
		}
		if strings.ContainsAny(ev.Func, "()") {
			t.Errorf("func %q is not a bare function name", ev.Func)
		}
		if ev.Func == "kfree_skb_reason" && ev.Reason == "NETFILTER_DROP" {
			drops++
		}
	}
	if drops != 4 {
		t.Errorf(`%d events {"func":"kfree_skb_reason","drop_reason":"NETFILTER_DROP"}, want 4`, drops)
	}
}
