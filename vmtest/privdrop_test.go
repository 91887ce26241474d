//go:build vmtest

package vmtest

import (
	"slices"
	"strings"
	"testing"

	"github.com/pwru-record/pwru-record/format"
)

// TestPrivDrop: pwru-record -Z nobody. After attach the recorder runs as
// uid/gid 65534 with no capability in its effective, permitted, ambient
// or bounding set (read from /proc/PID/status in the guest), the capture
// it had already opened is 0600 and complete, and it holds every echo
// request and reply with the payload that was sent.
func TestPrivDrop(t *testing.T) {
	forKernels(t, "privdrop", func(t *testing.T, c *checkCtx) {
		sent := sentOf(c.rep, "icmp-echo", 0)
		requireAnswered(t, sent)
		for _, l := range c.rep.Log {
			if strings.HasPrefix(l, "recorder status") {
				t.Log(l)
			}
		}
		want := map[string]uint64{"uid": 65534, "gid": 65534, "cap_eff": 0, "cap_prm": 0, "cap_bnd": 0, "cap_amb": 0,
			"no_new_privs": 1, "capture_mode": 0o600, "capture_uid": 0}
		for k, v := range want {
			got, ok := c.rep.Values[k]
			if !ok || got != v {
				t.Errorf("%s = %#o (reported %v), want %#o", k, got, ok, v)
			}
		}
		cp := openCapture(t, c, "main")
		// A kernel whose bpf() refuses unprivileged map lookups
		// (kernel.unprivileged_bpf_disabled checked for every command)
		// leaves the loss counters unreadable: the capture and the
		// summary must say so.
		still := "still needed root: nothing"
		if cp.f.Losses().Other["loss_counters_unreadable"] != 0 {
			still = "still needed root: reading the kernel's loss counters"
			t.Logf("this kernel refuses bpf() map lookups without privileges: loss counters unreadable after the drop")
		}
		if r := c.rep.Run("main"); !strings.Contains(r.Stderr, "running as nobody (uid 65534, gid 65534) since attach") ||
			!strings.Contains(r.Stderr, still) {
			t.Errorf("the summary does not say how the recorder ran (want %q); stderr:\n%s", still, stderrTail(r.Stderr))
		}
		req := cp.where(func(e *format.Event) bool { return tupleIs(e, 1, "10.0.0.1", "10.0.0.2", 0) })
		rep := cp.where(func(e *format.Event) bool { return tupleIs(e, 1, "10.0.0.2", "10.0.0.1", 0) })
		if len(req) == 0 || len(rep) == 0 {
			t.Fatalf("%d echo request and %d echo reply events; want both", len(req), len(rep))
		}
		for _, s := range sent {
			found := slices.ContainsFunc(req, func(e format.Event) bool {
				p := cp.packetOf(t, &e)
				if p == nil {
					return false
				}
				proto, _, _, l4b, ok := l4(p)
				return ok && proto == 1 && prefixEqual(l4b, s.L4, 8) && len(l4b) >= len(s.L4)
			})
			if !found {
				t.Errorf("echo request seq %d: no stored payload holds the %d-byte ICMP message sent", s.Seq, len(s.L4))
			}
		}
		t.Logf("%d events; request path %v", len(cp.events), cp.funcs(req))
	})
}
