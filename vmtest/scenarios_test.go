//go:build vmtest

package vmtest

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/cilium/ebpf/btf"

	"github.com/pwru-record/pwru-record/format"
	"github.com/pwru-record/pwru-record/vmtest/report"
)

// TestHarness checks the guest plumbing the other scenarios stand on:
// namespaces, veth, raw ICMP and UDP sockets, BTF and tracefs.
func TestHarness(t *testing.T) {
	forKernels(t, "harness", func(t *testing.T, c *checkCtx) {
		requireAnswered(t, c.rep.Traffic)
		a, b := c.rep.Netns["harness-a"], c.rep.Netns["harness-b"]
		if a == 0 || b == 0 || a == b {
			t.Errorf("netns inodes %d and %d: want two distinct namespaces", a, b)
		}
		if got := c.rep.Kernel; got != c.kernel.Release {
			t.Errorf("guest runs kernel %s, want %s (the release of %s %s)", got, c.kernel.Release, c.kernel.Package, c.kernel.Version)
		}
		for _, v := range []string{"vmlinux_btf", "tracefs"} {
			if c.rep.Values[v] != 1 {
				t.Errorf("guest lacks %s", v)
			}
		}
		// The guest's feature probe answered for every feature; what the
		// recorder cannot do without is there on every kernel the suite
		// boots.
		var have, lack []string
		for _, f := range report.AllFeatures {
			if c.has(t, f) {
				have = append(have, f)
			} else {
				lack = append(lack, f)
			}
		}
		t.Logf("features: %s; absent: %s", strings.Join(have, " "), strings.Join(lack, " "))
		for _, f := range []string{report.FeatVmlinuxBTF, report.FeatKprobe, report.FeatRingbuf} {
			if !c.has(t, f) {
				t.Errorf("kernel lacks %s, which the recorder needs", f)
			}
		}
	})
}

// TestICMP: ping between two namespaces over veth, filter
// "icmp and host 10.0.0.2".
func TestICMP(t *testing.T) {
	forKernels(t, "icmp", func(t *testing.T, c *checkCtx) {
		sent := sentOf(c.rep, "icmp-echo", 0)
		requireAnswered(t, sent)
		cp := openCapture(t, c, "main")
		nsA, ifA := ifaceOf(t, c.rep, "icmp-a")
		nsB, ifB := ifaceOf(t, c.rep, "icmp-b")

		req := cp.where(func(e *format.Event) bool { return tupleIs(e, 1, "10.0.0.1", "10.0.0.2", 0) })
		rep := cp.where(func(e *format.Event) bool { return tupleIs(e, 1, "10.0.0.2", "10.0.0.1", 0) })
		if len(req) == 0 || len(rep) == 0 {
			t.Fatalf("%d echo request and %d echo reply events; want both (functions seen: %v)", len(req), len(rep), cp.funcs(cp.events))
		}
		other := cp.where(func(e *format.Event) bool { return e.Tuple.Proto != 1 && e.Flags&format.FlagTracked == 0 })
		if len(other) > 0 {
			t.Errorf("%d events that are not ICMP passed the filter, e.g. %s %+v", len(other), cp.probe(&other[0]), other[0].Tuple)
		}
		t.Logf("request path: %v", cp.funcs(req))
		t.Logf("reply path: %v", cp.funcs(rep))

		// The veth transmit in A and the receive side in B, with each
		// namespace's inode and interface name. Without module BTF
		// (--kmods veth) no veth function is traced; the device's
		// transmit in A is then __dev_queue_xmit's.
		xmitFunc := "veth_xmit"
		if cp.lacks(t, format.LackModuleBTF) {
			if veth := cp.where(func(e *format.Event) bool { return strings.HasPrefix(cp.probe(e), "veth_") }); len(veth) > 0 {
				t.Errorf("%d events of veth functions, which a kernel without module BTF cannot select", len(veth))
			}
			xmitFunc = "__dev_queue_xmit"
		}
		xmit := slices.IndexFunc(req, func(e format.Event) bool {
			return cp.probe(&e) == xmitFunc && e.Netns == nsA && cp.ifname(&e) == ifA.Name
		})
		if xmit < 0 {
			t.Errorf("no %s event in netns %d on %s for the echo request", xmitFunc, nsA, ifA.Name)
		}
		rcv := slices.IndexFunc(req, func(e format.Event) bool {
			return cp.probe(&e) == "ip_rcv" && e.Netns == nsB && cp.ifname(&e) == ifB.Name
		})
		if rcv < 0 {
			var seen []string
			for _, e := range req {
				if cp.probe(&e) == "ip_rcv" {
					seen = append(seen, cp.ifname(&e))
				}
			}
			t.Errorf("no ip_rcv event in netns %d on %s for the echo request (ip_rcv interfaces: %q)", nsB, ifB.Name, seen)
		}
		if xmit >= 0 && rcv >= 0 && req[rcv].Time < req[xmit].Time {
			t.Errorf("ip_rcv in B at %d precedes %s in A at %d", req[rcv].Time, xmitFunc, req[xmit].Time)
		}

		// The stored payload is the ICMP message that was sent.
		for _, s := range sent {
			found := false
			for i := range req {
				p := cp.packetOf(t, &req[i])
				if p == nil {
					continue
				}
				if proto, _, _, l4b, ok := l4(p); ok && proto == 1 && prefixEqual(l4b, s.L4, 8) && len(l4b) >= len(s.L4) {
					found = true
					break
				}
			}
			if !found {
				t.Errorf("echo request seq %d: no stored payload holds the %d-byte ICMP message sent", s.Seq, len(s.L4))
			}
			replied := slices.ContainsFunc(rep, func(e format.Event) bool {
				p := cp.packetOf(t, &e)
				if p == nil {
					return false
				}
				proto, _, _, l4b, ok := l4(p)
				return ok && proto == 1 && len(l4b) >= 8 && l4b[0] == 0 &&
					binary.BigEndian.Uint16(l4b[4:]) == s.ID && binary.BigEndian.Uint16(l4b[6:]) == s.Seq
			})
			if !replied {
				t.Errorf("echo reply seq %d: no stored payload holds it", s.Seq)
			}
		}
	})
}

// dropFunc matches the functions that report a drop reason (as a whole
// word: kfree_skbmem is no drop).
var dropFunc = regexp.MustCompile(`\b(kfree_skb_reason|kfree_skb|sk_skb_reason_drop)\b`)

// TestDrop: nftables drops UDP to port 9999; the drop is recorded with
// reason NETFILTER_DROP, port 9998 has no drop.
func TestDrop(t *testing.T) {
	forKernels(t, "drop", func(t *testing.T, c *checkCtx) {
		requireAnswered(t, sentOf(c.rep, "udp", 9998))
		cp := openCapture(t, c, "main")
		noReason := cp.lacks(t, format.LackDropReason)
		drops := cp.dropEvents(noReason, func(*format.Event) bool { return true })
		for _, port := range []uint16{9999, 9998} {
			seen := cp.where(func(e *format.Event) bool { return tupleIs(e, 17, "10.0.0.1", "10.0.0.2", port) })
			if len(seen) == 0 {
				t.Errorf("no events for udp port %d", port)
			}
		}
		for _, s := range sentOf(c.rep, "udp", 9999) {
			ok := false
			for i := range drops {
				e := &drops[i]
				if !tupleIs(e, 17, "10.0.0.1", "10.0.0.2", 9999) {
					continue
				}
				p := cp.packetOf(t, e)
				if p == nil {
					continue
				}
				if _, _, _, l4b, good := l4(p); !good || !bytes.Contains(l4b, s.Payload[:min(len(s.Payload), len(l4b)-8)]) {
					continue
				}
				if fn := cp.probe(e); !dropFunc.MatchString(fn) {
					t.Errorf("drop reason reported by %s, want a kfree_skb / sk_skb_reason_drop probe", fn)
				}
				if noReason {
					if e.Flags&format.FlagDropReason != 0 {
						t.Errorf("drop event with reason %d on a kernel that reports none", e.DropReason)
					}
				} else if r := cp.dropReason(t, e.DropReason); r != "NETFILTER_DROP" {
					t.Errorf("udp 9999 datagram dropped with reason %s, want NETFILTER_DROP", r)
				}
				ok = true
				break
			}
			if !ok {
				t.Errorf("datagram to port 9999 (%q): no drop event carrying its payload (%d drop events)", s.Payload[:24], len(drops))
			}
		}
		for _, e := range drops {
			if tupleIs(&e, 17, "", "", 9998) {
				t.Errorf("port 9998 shows a drop in %s (reason %d)", cp.probe(&e), e.DropReason)
			}
		}
		if noReason {
			// The analyzer says why there is no reason, not nothing.
			out, err := exec.Command(bins["pwru-replay"], "paths", "--dropped", filepath.Join(c.dir, c.rep.Run("main").Capture), "udp port 9999").CombinedOutput()
			if err != nil {
				t.Fatalf("pwru-replay paths: %v\n%s", err, out)
			}
			if !bytes.Contains(out, []byte("dropped (this kernel reports no reason)")) {
				t.Errorf("pwru-replay paths --dropped does not say the kernel reports no reason:\n%s", head(out, 30))
			}
		}
	})
}

// TestTrack: --filter-track-skb follows the skb through DNAT 7777 -> 8888.
func TestTrack(t *testing.T) {
	forKernels(t, "track", func(t *testing.T, c *checkCtx) {
		sent := sentOf(c.rep, "udp", 7777)
		requireAnswered(t, sent)
		checkTrack(t, openCapture(t, c, "main"), sent)
	})
}

// checkTrack asserts that the capture follows each datagram of sent from
// dport 7777 to the 8888 DNAT made of it, as one tracked skb.
func checkTrack(t *testing.T, cp *capture, sent []report.Packet) {
	t.Helper()
	byTrack := map[uint64][]format.Event{}
	for _, e := range cp.events {
		if e.TrackID != 0 {
			byTrack[e.TrackID] = append(byTrack[e.TrackID], e)
		}
	}
	followed := 0
	changed := 0
	for _, evs := range byTrack {
		before := slices.IndexFunc(evs, func(e format.Event) bool { return tupleIs(&e, 17, "", "10.0.0.2", 7777) })
		after := slices.IndexFunc(evs, func(e format.Event) bool { return tupleIs(&e, 17, "", "10.0.0.2", 8888) })
		if before < 0 || after < 0 {
			continue
		}
		followed++
		if evs[after].Flags&format.FlagTracked == 0 {
			t.Errorf("event %s after DNAT (dport 8888) is not marked as tracked", cp.probe(&evs[after]))
		}
		t.Logf("track %d: %v", evs[0].TrackID, cp.funcs(evs))
		for i := after; i < len(evs); i++ {
			p := cp.packetOf(t, &evs[i])
			if p == nil {
				continue
			}
			if proto, _, _, l4b, ok := l4(p); ok && proto == 17 && len(l4b) >= 8 && binary.BigEndian.Uint16(l4b[2:]) == 8888 {
				changed++
				break
			}
		}
	}
	if followed < len(sent) {
		t.Errorf("%d skbs followed from dport 7777 to 8888, want %d (events: %d, functions: %v)", followed, len(sent), len(cp.events), cp.funcs(cp.events))
	}
	if changed < len(sent) {
		t.Errorf("%d tracked skbs have a stored payload with the rewritten port 8888, want %d", changed, len(sent))
	}
}

// TestTCXDP: --filter-trace-tc and --filter-trace-xdp record entry and
// verdict of the guest's tc (drops by length) and XDP (passes) programs.
func TestTCXDP(t *testing.T) {
	forKernels(t, "tcxdp", func(t *testing.T, c *checkCtx) {
		requireAnswered(t, sentOf(c.rep, "udp", 5556))
		cp := openCapture(t, c, "main")
		var tcID, xdpID uint32
		for _, p := range cp.f.Probes() {
			switch {
			case p.Kind == format.ProbeTC && strings.Contains(p.Name, "vmt_tc_drop"):
				tcID = p.ID
			case p.Kind == format.ProbeXDP && strings.Contains(p.Name, "vmt_xdp_pass"):
				xdpID = p.ID
			}
		}
		if tcID == 0 || xdpID == 0 {
			var names []string
			for _, p := range cp.f.Probes() {
				if p.Kind == format.ProbeTC || p.Kind == format.ProbeXDP {
					names = append(names, p.Name)
				}
			}
			t.Fatalf("tc probe found: %v, xdp probe found: %v; tc/xdp probes: %q", tcID != 0, xdpID != 0, names)
		}
		for _, id := range []uint32{tcID, xdpID} {
			if p := cp.f.Probe(id); p.Error != "" {
				t.Errorf("probe %s failed to attach: %s", p.Name, p.Error)
			}
		}
		count := func(id uint32, exit bool, verdict int64) int {
			return len(cp.where(func(e *format.Event) bool {
				if e.ProbeID != id || (e.Flags&format.FlagExit != 0) != exit {
					return false
				}
				return !exit || e.Flags&format.FlagRetval != 0 && e.Retval == verdict
			}))
		}
		const shot, ok, xdpPass = 2, 0, 2
		if n := count(tcID, false, 0); n < 6 {
			t.Errorf("%d tc entry events, want >= 6", n)
		}
		if n := count(tcID, true, shot); n != 3 {
			t.Errorf("%d tc exits with TC_ACT_SHOT, want 3 (the datagrams to port 5555)", n)
		}
		if n := count(tcID, true, ok); n < 3 {
			t.Errorf("%d tc exits with TC_ACT_OK, want >= 3", n)
		}
		if n := count(xdpID, false, 0); n < 6 {
			t.Errorf("%d xdp entry events, want >= 6", n)
		}
		if n := count(xdpID, true, xdpPass); n < 6 {
			t.Errorf("%d xdp exits with XDP_PASS, want >= 6", n)
		}
		for _, e := range cp.where(func(e *format.Event) bool {
			return e.ProbeID == tcID && e.Flags&format.FlagExit != 0 && e.Retval == shot && e.Tuple.Src.IsValid()
		}) {
			if e.Tuple.Dport != 5555 {
				t.Errorf("tc dropped a packet to port %d, want only 5555", e.Tuple.Dport)
			}
		}

		// --output-xdp-metadata: every XDP program event carries the
		// fields of its xdp_buff, equal to what the guest knows of the
		// veth, and pwru-replay prints them.
		ifindex, mtu, queues := c.rep.Values["xdp_ifindex"], c.rep.Values["xdp_mtu"], c.rep.Values["xdp_rx_queues"]
		if ifindex == 0 || mtu == 0 || queues == 0 {
			t.Fatalf("guest values %v: no xdp_ifindex, xdp_mtu or xdp_rx_queues", c.rep.Values)
		}
		// The capture stores the expressions and byte order as data
		// (format 1.1), not only as the text of the recorder's flag.
		h := cp.f.Header()
		if want := []string{"xdp->rxq->dev->ifindex", "xdp->rxq->dev->mtu", "xdp->rxq->queue_index"}; !slices.Equal(h.XDPMetadata, want) || h.ByteOrder != format.NativeByteOrder() {
			t.Errorf("header: xdp metadata %q, byte order %d; want %q, %d", h.XDPMetadata, h.ByteOrder, want, format.NativeByteOrder())
		}
		if v := cp.f.Summary().Version; v != "1.1" {
			t.Errorf("capture format %s, want 1.1", v)
		}
		xdpEvents := cp.where(func(e *format.Event) bool { return e.ProbeID == xdpID })
		for _, e := range xdpEvents {
			if e.Blobs[format.BlobMeta] != 0 {
				t.Errorf("XDP event at %d has sk_buff metadata", e.Time)
			}
			_, data, err := cp.f.Blob(e.Blobs[format.BlobXDPMeta])
			if e.Blobs[format.BlobXDPMeta] == 0 || err != nil || len(data) != 24 {
				t.Fatalf("XDP event at %d: xdp metadata blob %d, %d bytes, %v; want 3 fields", e.Time, e.Blobs[format.BlobXDPMeta], len(data), err)
			}
			got := []uint64{binary.LittleEndian.Uint64(data), binary.LittleEndian.Uint64(data[8:]), binary.LittleEndian.Uint64(data[16:])}
			if got[0] != ifindex || got[1] != mtu || got[2] >= queues {
				t.Errorf("XDP event at %d: ifindex, mtu, queue_index = %v; want %d, %d, < %d", e.Time, got, ifindex, mtu, queues)
			}
		}
		out, err := exec.Command(bins["pwru-replay"], "print", filepath.Join(c.dir, "main.pwru")).CombinedOutput()
		if err != nil {
			t.Fatalf("pwru-replay print: %v\n%s", err, out)
		}
		re := regexp.MustCompile(fmt.Sprintf(`(?m)vmt_xdp_pass[^ ]*\(xdp\).* xdp->rxq->dev->ifindex=0x%x xdp->rxq->dev->mtu=0x%x xdp->rxq->queue_index=0x[0-9a-f]+$`, ifindex, mtu))
		if n := len(re.FindAll(out, -1)); n != len(xdpEvents) {
			t.Errorf("pwru-replay print: %d XDP lines with the fields (%s), want %d:\n%s", n, re, len(xdpEvents), head(out, 40))
		}
	})
}

// TestOutput: --output-stack, --output-skb and --output-caller rendered on
// the host with the capture's kallsyms and BTF.
func TestOutput(t *testing.T) {
	forKernels(t, "output", func(t *testing.T, c *checkCtx) {
		requireAnswered(t, sentOf(c.rep, "icmp-echo", 0))
		cp := openCapture(t, c, "main")
		syms, err := cp.f.Symbols()
		if err != nil {
			t.Fatalf("symbols: %v", err)
		}
		spec, err := cp.f.BTF()
		if err != nil {
			t.Fatalf("BTF: %v", err)
		}
		var skbT *btf.Struct
		if err := spec.TypeByName("sk_buff", &skbT); err != nil {
			t.Fatalf("struct sk_buff in the capture's BTF: %v", err)
		}
		lenOff, _, ok1 := structMember(skbT, "len")
		protoOff, _, ok2 := structMember(skbT, "protocol")
		if !ok1 || !ok2 {
			t.Fatalf("struct sk_buff lacks len or protocol in the capture's BTF")
		}
		deliver := regexp.MustCompile(`^(ip_protocol_deliver_rcu|ip_local_deliver_finish|ip_local_deliver)$`)
		icmp := cp.where(func(e *format.Event) bool { return cp.probe(e) == "icmp_rcv" })
		if len(icmp) == 0 {
			t.Fatalf("no icmp_rcv events (functions: %v)", cp.funcs(cp.events))
		}
		// --output-stack copies every event's kernel stack into its record:
		// none may be missing, and bpf_get_stack must not have failed.
		losses := cp.f.Losses()
		if n := losses.Other["stack_lost"]; n != 0 {
			t.Errorf("stack_lost = %d, want 0", n)
		}
		t.Logf("%d events, %d stacks, stack_lost %d", len(cp.events), cp.f.Summary().Stacks, losses.Other["stack_lost"])
		for i := range cp.events {
			checkStack(t, cp, syms, &cp.events[i])
		}
		for _, e := range icmp {
			if e.StackID != 0 {
				ips, err := cp.f.Stack(e.StackID)
				if err != nil {
					t.Fatalf("stack %d: %v", e.StackID, err)
				}
				if names := stackNames(syms, ips); !slices.ContainsFunc(names, deliver.MatchString) {
					t.Errorf("icmp_rcv stack %v lacks ip_protocol_deliver_rcu / ip_local_deliver_finish", names)
				}
			}
			cs, _, ok := syms.Lookup(e.Caller)
			if e.Caller == 0 || !ok || !deliver.MatchString(cs.Name) {
				t.Errorf("icmp_rcv caller %#x = %q, want ip_protocol_deliver_rcu or ip_local_deliver_finish", e.Caller, syms.Format(e.Caller))
			}
			if e.Blobs[format.BlobSKB] == 0 {
				t.Fatal("icmp_rcv event without sk_buff bytes")
			}
			kind, raw, err := cp.f.Blob(e.Blobs[format.BlobSKB])
			if err != nil || kind != format.BlobSKB {
				t.Fatalf("sk_buff blob: kind %d, %v", kind, err)
			}
			if len(raw) != int(skbT.Size) {
				t.Errorf("sk_buff blob is %d bytes, BTF says %d", len(raw), skbT.Size)
				continue
			}
			if got := binary.LittleEndian.Uint32(raw[lenOff:]); got != e.Len {
				t.Errorf("sk_buff.len at offset %d = %d, event len %d", lenOff, got, e.Len)
			}
			if got := binary.BigEndian.Uint16(raw[protoOff:]); got != e.Protocol || got != 0x0800 {
				t.Errorf("sk_buff.protocol at offset %d = %#x, event protocol %#x, want 0x800", protoOff, got, e.Protocol)
			}
		}

		// The analyzer renders the same offline.
		_, ifB := ifaceOf(t, c.rep, "output-b")
		out, err := exec.Command(bins["pwru-replay"], "print", "--output-skb", "--output-stack", "--output-caller",
			"--func", "^icmp_rcv$", filepath.Join(c.dir, "main.pwru")).CombinedOutput()
		if err != nil {
			t.Fatalf("pwru-replay print: %v\n%s", err, out)
		}
		for _, re := range []string{
			`\bicmp_rcv\b`,
			`\bip_protocol_deliver_rcu\+0x[0-9a-f]+`,
			`\b` + regexp.QuoteMeta(ifB.Name) + `\b`,
			fmt.Sprintf(`\.len = \(unsigned int\)%d\b`, icmp[0].Len),
			`\.protocol = `,
		} {
			if !regexp.MustCompile(re).Match(out) {
				t.Errorf("pwru-replay print --output-skb --output-stack --output-caller: no match for %s in:\n%s", re, head(out, 60))
			}
		}
	})
}

// maxStackFrames is the recorder's --output-stack depth (OUT_STACK_DEPTH
// in bpf/pwru.c).
const maxStackFrames = 50

// stackEntry matches the frames every stack of the scenarios passes
// through: the socket layer's entry of each system call the guest sends
// and receives with (sendto and recvfrom of its pinger and UDP sockets;
// write(2) on a connected socket, sock_write_iter, for the nonskb
// scenario's udp-other datagrams, whose skbs stack-id tracking may
// record), or the softirq that delivers packets (veth hands them to the
// backlog).
var stackEntry = regexp.MustCompile(`^(__sys_sendto|__sys_recvfrom|__sys_recvmsg|sock_write_iter|net_rx_action)$`)

// stackNames symbolizes ips; an address that no symbol covers closely
// (beyond 1 MiB from the nearest) is shown as its hex value.
func stackNames(syms *format.Symbols, ips []uint64) []string {
	names := make([]string, len(ips))
	for i, ip := range ips {
		s, off, ok := syms.Lookup(ip)
		if !ok || off >= 1<<20 {
			names[i] = fmt.Sprintf("%#x", ip)
			continue
		}
		names[i] = s.Name
	}
	return names
}

// checkStack asserts that e, from a capture made with --output-stack, has a
// stack that makes sense: every frame symbolizes, a kprobe's stack starts
// in the traced function (an fentry program's in the recorder's program
// and its trampoline, then the traced function), the kfree_skb tracepoint's in the recorder's own
// program (named through the BPF symbols the recorder adds) with the
// freeing function among the callers, and the chain reaches the system
// call or softirq the packet came from.
func checkStack(t *testing.T, cp *capture, syms *format.Symbols, e *format.Event) {
	t.Helper()
	fn := cp.probe(e)
	if e.StackID == 0 {
		t.Errorf("%s event at %d without a stack", fn, e.Time)
		return
	}
	ips, err := cp.f.Stack(e.StackID)
	if err != nil {
		t.Fatalf("stack %d: %v", e.StackID, err)
	}
	names := stackNames(syms, ips)
	if len(ips) < 2 || len(ips) > maxStackFrames {
		t.Errorf("%s stack of %d frames, want 2..%d: %v", fn, len(ips), maxStackFrames, names)
		return
	}
	for i, n := range names {
		if strings.HasPrefix(n, "0x") {
			t.Errorf("%s stack frame %d (%s) does not symbolize: %v", fn, i, n, names)
		}
	}
	p := cp.f.Probe(e.ProbeID)
	switch {
	case p == nil:
		t.Errorf("event of unknown probe %d", e.ProbeID)
	case p.Kind == format.ProbeKprobe || p.Kind == format.ProbeKprobeMulti:
		if names[0] != p.Name {
			t.Errorf("%s stack starts in %s, want the traced function: %v", fn, names[0], names)
		}
		// --output-caller reads the return address at the probe's stack
		// pointer: the unwinder's second frame.
		if e.Caller != 0 && ips[1] != e.Caller {
			t.Errorf("%s stack's caller frame %s, --output-caller says %s", fn, syms.Format(ips[1]), syms.Format(e.Caller))
		}
	case p.Kind == format.ProbeFentry:
		// The program, its trampoline, then the traced function (the
		// trampoline is called from its first instructions).
		if len(names) < 4 || !strings.HasPrefix(names[0], "bpf_prog_") || !strings.Contains(names[0], "_fentry_skb_") ||
			!strings.HasPrefix(names[1], "bpf_trampoline_") || names[2] != p.Name {
			t.Errorf("%s stack %v, want the recorder's fentry_skb program, its trampoline, then the traced function", fn, names)
			break
		}
		// --output-caller reads the traced function's return address:
		// the frame after it.
		if e.Caller != 0 && ips[3] != e.Caller {
			t.Errorf("%s stack's caller frame %s, --output-caller says %s", fn, syms.Format(ips[3]), syms.Format(e.Caller))
		}
	case p.Kind == format.ProbeTracepoint:
		if !strings.HasPrefix(names[0], "bpf_prog_") || !strings.HasSuffix(names[0], "raw_tp_kfree_skb") {
			t.Errorf("%s stack starts in %s, want the recorder's raw_tp_kfree_skb program: %v", fn, names[0], names)
		}
		if !slices.ContainsFunc(names, regexp.MustCompile(`^(sk_skb_reason_drop|kfree_skb_reason|kfree_skb|kfree_skb_list_reason)$`).MatchString) {
			t.Errorf("%s stack lacks the freeing function: %v", fn, names)
		}
	}
	if len(ips) < maxStackFrames && !slices.ContainsFunc(names, stackEntry.MatchString) {
		t.Errorf("%s stack reaches no socket system call nor net_rx_action: %v", fn, names)
	}
}

// TestDiff: the same UDP traffic with and without an nftables drop; the
// analyzer's diff names the diverging function and the drop reason.
func TestDiff(t *testing.T) {
	forKernels(t, "diff", func(t *testing.T, c *checkCtx) {
		requireAnswered(t, sentOf(c.rep, "udp-good", 0))
		good := openCapture(t, c, "good")
		bad := openCapture(t, c, "bad")
		noReason := bad.lacks(t, format.LackDropReason)
		port7000 := func(e *format.Event) bool { return e.Tuple.Dport == 7000 }
		if d := good.dropEvents(noReason, port7000); len(d) > 0 {
			t.Errorf("good run shows %d drops of port 7000", len(d))
		}
		drops := bad.dropEvents(noReason, port7000)
		if len(drops) < 3 {
			t.Errorf("bad run shows %d drops of port 7000, want 3", len(drops))
		}
		wantReason := "NETFILTER_DROP"
		if noReason {
			wantReason = "dropped (this kernel reports no reason)"
		}
		for _, e := range drops {
			if noReason {
				if e.Flags&format.FlagDropReason != 0 {
					t.Errorf("bad run drop with reason %d on a kernel that reports none", e.DropReason)
				}
			} else if r := bad.dropReason(t, e.DropReason); r != wantReason {
				t.Errorf("bad run drop reason %s, want %s", r, wantReason)
			}
		}
		cmd := exec.Command(bins["pwru-replay"], "diff", filepath.Join(c.dir, "good.pwru"), filepath.Join(c.dir, "bad.pwru"))
		out, err := cmd.CombinedOutput()
		var ee *exec.ExitError
		if !errors.As(err, &ee) || ee.ExitCode() != 1 {
			t.Fatalf("pwru-replay diff: %v (want exit status 1: different)\n%s", err, out)
		}
		t.Logf("pwru-replay diff:\n%s", out)
		if !bytes.Contains(out, []byte(wantReason)) {
			t.Errorf("diff output does not say %s", wantReason)
		}
		if !dropFunc.Match(out) {
			t.Error("diff output does not name the drop function (kfree_skb* / sk_skb_reason_drop)")
		}
	})
}

// TestFaults: SIGKILL mid-capture, an empty capture, and bad invocations.
func TestFaults(t *testing.T) {
	forKernels(t, "faults", func(t *testing.T, c *checkCtx) {
		t.Run("killed", func(t *testing.T) {
			r := c.rep.Run("killed")
			if r == nil {
				t.Fatal("no killed run in the report")
			}
			if r.Signal != "killed" {
				t.Fatalf("killed run ended with exit %d %s, want SIGKILL; stderr:\n%s", r.ExitCode, r.Signal, stderrTail(r.Stderr))
			}
			cp := readCapture(t, filepath.Join(c.dir, r.Capture), true)
			s := cp.f.Summary()
			if s.Complete || !s.Truncated {
				t.Errorf("killed capture: complete %v truncated %v, want truncated", s.Complete, s.Truncated)
			}
			if len(cp.events) == 0 {
				t.Fatalf("killed capture holds no events (%d datagrams sent over 3 s; chunks are flushed every second)", c.rep.Values["killed_sent"])
			}
			if uint64(len(cp.events)) != s.Events {
				t.Errorf("iterated %d events, summary says %d", len(cp.events), s.Events)
			}
			if n := len(cp.where(func(e *format.Event) bool { return tupleIs(e, 17, "10.0.0.1", "10.0.0.2", 6000) })); n == 0 {
				t.Error("killed capture has no events of the datagrams sent")
			}
			t.Logf("truncated at %d; %d events in %d complete chunks", s.TruncatedAt, s.Events, s.Chunks)
		})
		t.Run("empty", func(t *testing.T) {
			cp := openCapture(t, c, "empty")
			if len(cp.events) != 0 {
				t.Errorf("filter matching nothing recorded %d events", len(cp.events))
			}
			if len(cp.f.Probes()) == 0 {
				t.Error("empty capture lists no probes")
			}
		})
		for _, bad := range []struct {
			run  string
			want *regexp.Regexp
		}{
			{"badfilter", regexp.MustCompile(`(?i)filter`)},
			{"nofunc", regexp.MustCompile(`(?i)func|match`)},
			{"nonroot", regexp.MustCompile(`(?i)root|privilege|permi|capabilit|CAP_`)},
		} {
			t.Run(bad.run, func(t *testing.T) {
				r := c.rep.Run(bad.run)
				if r == nil {
					t.Fatalf("no %s run", bad.run)
				}
				msg := strings.TrimSpace(r.Stderr)
				t.Logf("stderr: %s", stderrTail(r.Stderr))
				if r.ExitCode <= 0 || r.Signal != "" {
					t.Errorf("exit %d %s, want a non-zero exit status", r.ExitCode, r.Signal)
				}
				if msg == "" || strings.Contains(msg, "\n") {
					t.Errorf("stderr is %d lines, want one:\n%s", strings.Count(msg, "\n")+1, msg)
				}
				if !strings.HasPrefix(msg, "pwru-record: ") || !bad.want.MatchString(msg) {
					t.Errorf("stderr %q: want one line 'pwru-record: ...' matching %s", msg, bad.want)
				}
			})
		}
	})
}

// TestLoad: a bounded UDP flood with every function traced; written plus
// lost events account for every BPF program run; idle costs no CPU.
func TestLoad(t *testing.T) {
	forKernels(t, "load", func(t *testing.T, c *checkCtx) {
		v := c.rep.Values
		t.Logf("flood: %d sent, %d received; idle: %d ms CPU in %d ms", v["flood_sent"], v["flood_received"], v["idle_cpu_ms"], v["idle_wall_ms"])
		for _, l := range c.rep.Log {
			t.Log(l)
		}
		if v["flood_received"] == 0 {
			t.Fatal("the flood reached nobody")
		}
		if v["idle_cpu_ms"]*20 > v["idle_wall_ms"] {
			t.Errorf("idle recorder used %d ms CPU in %d ms (> 5%%)", v["idle_cpu_ms"], v["idle_wall_ms"])
		}
		cp := openCapture(t, c, "main")
		l := cp.f.Losses()
		written, lost := uint64(len(cp.events)), l.TotalLost()
		// Probe hits that make no event by design or were dropped after
		// the ring buffer are counted under their own names: the skb
		// argument was NULL, or the drain did not write them.
		var skipped uint64
		for k, n := range l.Other {
			if k == "null_skb" || strings.HasPrefix(k, "not_written_") {
				skipped += n
			}
		}
		hits := v["bpf_run_cnt"]
		t.Logf("probe hits %d (bpf run_cnt), written %d (%.1f%%), lost in the ring buffer %d, skipped %d; other counters %v",
			hits, written, 100*float64(written)/float64(max(hits, 1)), lost, skipped, l.Other)
		if written+lost+skipped != hits {
			t.Errorf("written %d + lost %d + skipped %d = %d, want the %d probe hits the kernel counted", written, lost, skipped, written+lost+skipped, hits)
		}
		// Production hosts: the recorder tracing every function with
		// default options stays under 64 MiB resident at its peak.
		run := c.rep.Run("main")
		if run == nil {
			t.Fatal("no main run")
		}
		t.Logf("recorder peak RSS (VmHWM before the stop) %.1f MiB; its summary:\n%s", float64(run.PeakRSS)/(1<<20), run.Stderr)
		switch {
		case run.PeakRSS == 0:
			t.Error("recorder peak RSS not measured")
		case run.PeakRSS > maxPeakRSS:
			t.Errorf("recorder peak RSS %.1f MiB, want at most %d MiB", float64(run.PeakRSS)/(1<<20), maxPeakRSS>>20)
		}
	})
}

// maxPeakRSS bounds the recorder's resident memory in TestLoad.
const maxPeakRSS = 64 << 20

// head returns the first n lines of b.
func head(b []byte, n int) string {
	lines := strings.SplitN(string(b), "\n", n+1)
	if len(lines) > n {
		lines = lines[:n]
	}
	return strings.Join(lines, "\n")
}
