//go:build vmtest

package vmtest

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"net/netip"
	"path/filepath"
	"strings"
	"testing"

	"github.com/cilium/ebpf/btf"

	"github.com/pwru-record/pwru-record/format"
	"github.com/pwru-record/pwru-record/vmtest/report"
)

// capture is a capture file read back on the host.
type capture struct {
	f      *format.File
	events []format.Event
}

// openCapture opens the capture of recorder run name, checks that the run
// ended as wanted (signal "" = a clean exit 0) and reads every event.
func openCapture(t *testing.T, c *checkCtx, name string) *capture {
	t.Helper()
	r := c.rep.Run(name)
	if r == nil {
		t.Fatalf("no recorder run %q in the report", name)
	}
	if r.Error != "" {
		t.Fatalf("recorder run %s: %s; stderr:\n%s", name, r.Error, stderrTail(r.Stderr))
	}
	if r.ExitCode != 0 || r.Signal != "" {
		t.Fatalf("recorder run %s ended with exit %d %s; stderr:\n%s", name, r.ExitCode, r.Signal, stderrTail(r.Stderr))
	}
	cp := readCapture(t, filepath.Join(c.dir, r.Capture), false)
	if s := cp.f.Summary(); !s.Complete || s.Truncated {
		t.Errorf("capture %s: complete %v, truncated %v at %d; want a complete file", r.Capture, s.Complete, s.Truncated, s.TruncatedAt)
	}
	return cp
}

// readCapture opens path and reads all events; truncated allows the
// iteration to end with ErrTruncated.
func readCapture(t *testing.T, path string, truncated bool) *capture {
	t.Helper()
	f, err := format.Open(path, nil)
	if err != nil {
		t.Fatalf("open capture: %v", err)
	}
	t.Cleanup(func() { f.Close() })
	cp := &capture{f: f}
	it := f.Events(nil)
	var e format.Event
	for it.Next(&e) {
		cp.events = append(cp.events, e)
	}
	if err := it.Err(); err != nil && !(truncated && errors.Is(err, format.ErrTruncated)) {
		t.Fatalf("read events of %s: %v", filepath.Base(path), err)
	}
	s := f.Summary()
	l := f.Losses()
	t.Logf("capture %s: %d events, %d packets, %d stacks, %d probes, lost %d, complete %v",
		filepath.Base(path), len(cp.events), s.Packets, s.Stacks, len(f.Probes()), l.TotalLost(), s.Complete)
	return cp
}

func (cp *capture) probe(e *format.Event) string {
	if p := cp.f.Probe(e.ProbeID); p != nil {
		return p.Name
	}
	return fmt.Sprintf("probe#%d", e.ProbeID)
}

func (cp *capture) ifname(e *format.Event) string {
	if i := cp.f.Interface(e.Netns, e.Ifindex); i != nil {
		return i.Name
	}
	return ""
}

// funcs lists the distinct probe names of the events.
func (cp *capture) funcs(evs []format.Event) []string {
	seen := map[string]bool{}
	var out []string
	for i := range evs {
		if n := cp.probe(&evs[i]); !seen[n] {
			seen[n] = true
			out = append(out, n)
		}
	}
	return out
}

// where returns the events for which keep is true.
func (cp *capture) where(keep func(e *format.Event) bool) []format.Event {
	var out []format.Event
	for i := range cp.events {
		if keep(&cp.events[i]) {
			out = append(out, cp.events[i])
		}
	}
	return out
}

// lacks tells whether the capture's kernel lacked what (a format.Lack*
// value), as the recorder probed it: the tests then check how the feature
// degrades instead of the feature.
func (cp *capture) lacks(t *testing.T, what string) bool {
	t.Helper()
	if cp.f.Header().Lacks(what) {
		t.Logf("the kernel lacks %s (the recorder probed it)", what)
		return true
	}
	return false
}

// dropEvents returns the drop events that carry a reason, or, on a kernel
// that reports none (noReason), the drop tracepoint's events.
func (cp *capture) dropEvents(noReason bool, keep func(e *format.Event) bool) []format.Event {
	return cp.where(func(e *format.Event) bool {
		if noReason {
			p := cp.f.Probe(e.ProbeID)
			if p == nil || p.Kind != format.ProbeTracepoint || p.Name != "kfree_skb" {
				return false
			}
		} else if e.Flags&format.FlagDropReason == 0 {
			return false
		}
		return keep(e)
	})
}

// dropReason names an enum skb_drop_reason value with the capture's BTF,
// without the SKB_DROP_REASON_ prefix.
func (cp *capture) dropReason(t *testing.T, v uint32) string {
	t.Helper()
	spec, err := cp.f.BTF()
	if err != nil {
		t.Fatalf("capture BTF: %v", err)
	}
	var en *btf.Enum
	if err := spec.TypeByName("skb_drop_reason", &en); err != nil {
		t.Fatalf("enum skb_drop_reason in the capture's BTF: %v", err)
	}
	for _, ev := range en.Values {
		if ev.Value == uint64(v) {
			return strings.TrimPrefix(ev.Name, "SKB_DROP_REASON_")
		}
	}
	return fmt.Sprintf("unknown(%d)", v)
}

// l4 returns the IPv4 protocol and the transport bytes of a stored packet.
func l4(p *format.Packet) (proto uint8, src, dst netip.Addr, data []byte, ok bool) {
	b := p.Data
	if !p.L3 {
		if len(b) < 14 || binary.BigEndian.Uint16(b[12:]) != 0x0800 {
			return 0, src, dst, nil, false
		}
		b = b[14:]
	}
	if len(b) < 20 || b[0]>>4 != 4 {
		return 0, src, dst, nil, false
	}
	ihl := int(b[0]&0xf) * 4
	if len(b) < ihl {
		return 0, src, dst, nil, false
	}
	src = netip.AddrFrom4([4]byte(b[12:16]))
	dst = netip.AddrFrom4([4]byte(b[16:20]))
	return b[9], src, dst, b[ihl:], true
}

// packetOf returns the stored payload of an event, or nil.
func (cp *capture) packetOf(t *testing.T, e *format.Event) *format.Packet {
	t.Helper()
	if e.PayloadID == 0 {
		return nil
	}
	p, err := cp.f.Packet(e.PayloadID)
	if err != nil {
		t.Fatalf("packet %d: %v", e.PayloadID, err)
	}
	return p
}

// prefixEqual reports whether got is want, possibly cut short by the
// snaplen (but at least min bytes long).
func prefixEqual(got, want []byte, least int) bool {
	if len(got) < least || len(got) > len(want) && !bytes.HasPrefix(got, want) {
		return false
	}
	n := min(len(got), len(want))
	return bytes.Equal(got[:n], want[:n])
}

func tupleIs(e *format.Event, proto uint8, src, dst string, dport uint16) bool {
	t := e.Tuple
	if t.Proto != proto || !t.Src.IsValid() {
		return false
	}
	if src != "" && t.Src != netip.MustParseAddr(src) || dst != "" && t.Dst != netip.MustParseAddr(dst) {
		return false
	}
	return dport == 0 || t.Dport == dport
}

func sentOf(rep *report.Scenario, kind string, dport uint16) []report.Packet {
	var out []report.Packet
	for _, p := range rep.Traffic {
		if p.Kind == kind && (dport == 0 || p.Dport == dport) {
			out = append(out, p)
		}
	}
	return out
}

// requireAnswered fails unless every packet got its reply / was received.
func requireAnswered(t *testing.T, pkts []report.Packet) {
	t.Helper()
	if len(pkts) == 0 {
		t.Fatal("the guest sent no packets")
	}
	for _, p := range pkts {
		if !p.Answered {
			t.Fatalf("%s %s -> %s:%d id %d seq %d: no reply / not received in the guest", p.Kind, p.Src, p.Dst, p.Dport, p.ID, p.Seq)
		}
	}
}

// ifaceOf returns the netns inode and name of a scenario interface.
func ifaceOf(t *testing.T, rep *report.Scenario, netns string) (uint32, report.Iface) {
	t.Helper()
	for _, i := range rep.Ifaces {
		if i.Netns == netns {
			return rep.Netns[netns], i
		}
	}
	t.Fatalf("no interface in netns %s in the report", netns)
	return 0, report.Iface{}
}

// structMember finds a member of a struct by name, descending into
// anonymous structs and unions, and returns its byte offset and type.
func structMember(s btf.Type, name string) (uint32, btf.Type, bool) {
	var members []btf.Member
	switch v := s.(type) {
	case *btf.Struct:
		members = v.Members
	case *btf.Union:
		members = v.Members
	}
	for _, m := range members {
		if m.Name == name {
			return m.Offset.Bytes(), m.Type, true
		}
		if m.Name == "" {
			if off, typ, ok := structMember(btf.UnderlyingType(m.Type), name); ok {
				return m.Offset.Bytes() + off, typ, true
			}
		}
	}
	return 0, nil, false
}

// stderrTail keeps the last lines of a recorder's stderr for a message.
func stderrTail(s string) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > 12 {
		lines = append([]string{fmt.Sprintf("[%d lines omitted]", len(lines)-12)}, lines[len(lines)-12:]...)
	}
	return strings.Join(lines, "\n")
}
