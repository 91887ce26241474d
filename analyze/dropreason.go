package analyze

import (
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/cilium/ebpf/btf"

	"github.com/pwru-record/pwru-record/format"
)

// DropReason returns the name of an enum skb_drop_reason value without
// its SKB_DROP_REASON_ prefix ("NO_SOCKET"), and false when the capture's
// BTF has no name for it.
func (c *Capture) DropReason(v uint32) (string, bool) {
	if v == NoReason && c.noReasons {
		return NoReasonText, true
	}
	c.loadReasons()
	n, ok := c.reasons[v]
	return n, ok
}

// NoReason is the drop reason of a drop recorded on a kernel that reports
// none (format.LackDropReason); [Capture.DropReason] names it NoReasonText.
const NoReason = ^uint32(0)

// NoReasonText names NoReason: "dropped (this kernel reports no reason)".
const NoReasonText = "this kernel reports no reason"

// reasonlessDrop tells whether e is an event of the drop tracepoint
// (skb:kfree_skb) on a kernel that reports no drop reasons: where newer
// kernels give the reason.
func (c *Capture) reasonlessDrop(e *format.Event) bool {
	if !c.noReasons || e.Flags&format.FlagDropReason != 0 {
		return false
	}
	p := c.Probe(e.ProbeID)
	return p != nil && p.Kind == format.ProbeTracepoint && classifyName(p.Name) == classDrop
}

// DropReasonFull returns the kernel's name of an enum skb_drop_reason
// value ("SKB_DROP_REASON_NO_SOCKET", "SKB_CONSUMED"), as pwru prints it,
// and false when the capture's BTF has no name for it.
func (c *Capture) DropReasonFull(v uint32) (string, bool) {
	c.loadReasons()
	n, ok := c.full[v]
	return n, ok
}

func (c *Capture) loadReasons() {
	if !c.reasonsOK {
		c.reasonsOK = true
		var err error
		c.reasons, c.full, err = dropReasons(c.BTF())
		if err != nil {
			c.noteUnusable(err)
		}
	}
}

// DropReasonValue looks a drop reason up by name: "NO_SOCKET",
// "no_socket" and "SKB_DROP_REASON_NO_SOCKET" are the same; a number is
// accepted too.
func (c *Capture) DropReasonValue(name string) (uint32, bool) {
	if v, err := strconv.ParseUint(name, 0, 32); err == nil {
		return uint32(v), true
	}
	c.DropReason(0)
	want := normReason(name)
	for v, n := range c.reasons {
		if normReason(n) == want {
			return v, true
		}
	}
	return 0, false
}

func normReason(s string) string {
	s = strings.ToUpper(s)
	s = strings.TrimPrefix(s, "SKB_DROP_REASON_")
	return strings.TrimPrefix(s, "SKB_")
}

// dropReasons reads enum skb_drop_reason from spec: the names without
// their SKB_DROP_REASON_ prefix, and as they are. A BTF without the enum
// has no names and no error.
func dropReasons(spec *btf.Spec) (short, full map[uint32]string, err error) {
	short, full = map[uint32]string{}, map[uint32]string{}
	if spec == nil {
		return short, full, nil
	}
	var e *btf.Enum
	if err := spec.TypeByName("skb_drop_reason", &e); err != nil {
		if errors.Is(err, btf.ErrNotFound) {
			err = nil
		} else {
			err = fmt.Errorf("find enum skb_drop_reason in btf: %w", err)
		}
		return short, full, err
	}
	for _, v := range e.Values {
		short[uint32(v.Value)] = strings.TrimPrefix(v.Name, "SKB_DROP_REASON_")
		full[uint32(v.Value)] = v.Name
	}
	return short, full, nil
}
