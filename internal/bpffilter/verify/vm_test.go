//go:build vmtest

package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"golang.org/x/net/bpf"

	"github.com/pwru-record/pwru-record/internal/bpffilter/pcap"
	"github.com/pwru-record/pwru-record/internal/bpffilter/skbexpr"
	"github.com/pwru-record/pwru-record/internal/pktcorpus"
	"github.com/pwru-record/pwru-record/internal/pktfilter"
	"github.com/pwru-record/pwru-record/internal/vm"
)

var flagKernels = flag.String("kernels", strings.Join(vm.KnownSeries(), ","), "comma-separated kernel series to boot")

// pcapExprs are compiled on the host for l2 and l3.
var pcapExprs = []string{
	"tcp", "arp", "host 10.0.0.1", "net 10.0.0.0/24 and not port 22",
	"tcp port 80", "udp port 53 or icmp", "portrange 1-1024",
	"tcp[tcpflags] & (tcp-syn|tcp-ack) == tcp-syn", "len > 100", "ip6 and icmp6",
	"host 2001:db8::1", "icmp[icmptype] == icmp-echo", "vlan 100 and udp",
	"ether host 02:00:00:00:00:01", "tcp[20:4] == 0x47455420",
	"tcp and (((ip[2:2] - ((ip[0]&0xf)<<2)) - ((tcp[12]&0xf0)>>2)) != 0)",
	"(tcp or udp) and (src net 192.168.0.0/16 or dst net 172.16.0.0/12) and not (port 53 or port 80 or port 443)",
	"(ip[0] << (ip[9] & 0x3f)) & 0xff00 != 0 or ip[2:2] / (ip[9] - 6) > 10",
	// Encapsulations (issue 16): MPLS and PPPoE shift the offsets by
	// constants, Geneve keeps them in scratch registers (unoptimised code).
	"mpls and mpls 300 and tcp", "pppoes 0x1234 and tcp port 80",
	"geneve and ether src 02:00:00:00:00:02 and ip host 192.168.7.9",
}

// execOnlyExprs are run in the kernel like pcapExprs but not loaded into
// the recorder's object (each load there costs a minute under TCG).
var execOnlyExprs = []string{
	"mpls 100 and udp port 53", "pppoed or pppoes", "geneve 7 and tcp port 80", "llc and stp",
}

// skbExprs and xdpExprs are compiled in the guest against its BTF.
var skbExprs = []string{
	"skb->len > 100 && skb->dev->ifindex == 3",
	"skb->mark & 0xff == 1",
	"skb->protocol == 0x0008",
	"skb->pkt_type != 0 || !skb->sk",
	"skb->sk->__sk_common.skc_family == 10",
	"skb->cloned && skb->hash == 0 || skb->dev->nd_net.net->ns.inum == 4026531840",
}

var xdpExprs = []string{
	"xdp->rxq->dev->ifindex == 2",
	"xdp->rxq->queue_index == 0 && xdp->data != 0",
}

func cbpf(t *testing.T, expr string, l3 bool) []bpf.RawInstruction {
	t.Helper()
	prog, err := pcap.CompileCBPF(expr, l3)
	if err != nil {
		if !l3 {
			t.Fatal(err)
		}
		// Link-layer only: what InjectAll puts into the l3 placeholder.
		prog = []bpf.Instruction{bpf.RetConstant{Val: 0}}
	}
	raw, err := bpf.Assemble(prog)
	if err != nil {
		t.Fatal(err)
	}
	return raw
}

// skbCases and xdpCases are run in the kernel on images the guest builds
// (see buildImage): want is the verdict on image "full", and on "nulldev"
// (skb->dev NULL) for skb expressions.
var skbCases = []struct {
	expr          string
	full, nulldev bool
}{
	{"skb->len > 100 && skb->dev->ifindex == 3", true, false},
	{"skb->len > 1500", false, false},
	{"skb->len >= 1500 && skb->len <= 1500", true, true},
	{"skb->mark & 0xff == 1", false, false},
	{"skb->mark & 0xff == 0xff && skb->mark == 0x123456ff", true, true},
	{"skb->protocol == 0x0008", true, true},
	{"skb->dev->ifindex != 3", false, false},
	{"!(skb->dev->ifindex == 3)", false, false},
	{"skb->dev == 0 || skb->dev->ifindex == 3", true, true},
	{"!(skb->len < 3) && skb->dev", true, false},
	{"(skb->mark | 0xf00) & 0xf00 == 0xf00 || skb->len == 1", true, true},
}

var xdpCases = []struct {
	expr string
	want bool
}{
	{"xdp->rxq->dev->ifindex == 3", true},
	{"xdp->rxq->queue_index == 2 && xdp->rxq->dev->ifindex > 2", true},
	{"xdp->rxq->queue_index == 5", false},
}

// execCases builds the in-kernel execution cases: every pcap expression
// over the whole packet corpus (verdicts from libpcap, which pwru-replay's
// pure-Go matcher must share), and the skb/xdp expressions above.
func execCases(t *testing.T) ([]ExecCase, int) {
	t.Helper()
	var cases []ExecCase
	runs := 0
	for _, l3 := range []bool{false, true} {
		inputs, err := pktcorpus.Inputs(l3)
		if err != nil {
			t.Fatal(err)
		}
		names := make([]string, 0, len(inputs))
		for n := range inputs {
			names = append(names, n)
		}
		sort.Strings(names)
		for i, e := range append(append([]string{}, pcapExprs...), execOnlyExprs...) {
			prog, err := pcap.CompileCBPF(e, l3)
			if err != nil {
				continue // link-layer only
			}
			raw, err := bpf.Assemble(prog)
			if err != nil {
				t.Fatal(err)
			}
			ph := pcap.PlaceholderL2
			if l3 {
				ph = pcap.PlaceholderL3
			}
			if i%4 == 3 { // exercise the tunnel placeholders too
				ph = map[bool]string{false: pcap.PlaceholderTunnelL2, true: pcap.PlaceholderTunnelL3}[l3]
			}
			c := ExecCase{Name: fmt.Sprintf("%s %q", ph, e), Placeholder: ph, CBPF: raw}
			offline, err := pktfilter.Compile(e)
			if err != nil {
				t.Fatalf("pwru-replay's matcher: %v", err)
			}
			for _, n := range names {
				want, err := pcap.MatchLibpcap(prog, inputs[n])
				if err != nil {
					t.Fatal(err)
				}
				// The recorder's filter (libpcap's code, checked in the
				// kernel below) and pwru-replay's must agree.
				if got := offline.Match(inputs[n], l3); got != want {
					t.Errorf("%q on %s (l3=%v): pktfilter %v, libpcap %v", e, n, l3, got, want)
				}
				c.Inputs = append(c.Inputs, ExecInput{Name: n, Data: inputs[n], Want: want})
			}
			runs += len(c.Inputs)
			cases = append(cases, c)
		}
	}
	for _, c := range skbCases {
		cases = append(cases, ExecCase{Name: c.expr, Placeholder: skbexpr.PlaceholderSkb, Expr: c.expr,
			Inputs: []ExecInput{{Name: "full", Want: c.full}, {Name: "nulldev", Want: c.nulldev}}})
		runs += 2
	}
	for _, c := range xdpCases {
		cases = append(cases, ExecCase{Name: c.expr, Placeholder: skbexpr.PlaceholderXdp, Expr: c.expr,
			Inputs: []ExecInput{{Name: "full", Want: c.want}}})
		runs++
	}
	return cases, runs
}

func TestVerifier(t *testing.T) {
	cases := []Case{{Name: "defaults"}}
	for i, e := range pcapExprs {
		l2, l3 := cbpf(t, e, false), cbpf(t, e, true)
		cases = append(cases, Case{
			Name: fmt.Sprintf("pcap%02d", i),
			PCAP: map[string][]bpf.RawInstruction{
				pcap.PlaceholderL2: l2, pcap.PlaceholderTunnelL2: l2,
				pcap.PlaceholderL3: l3, pcap.PlaceholderTunnelL3: l3,
			},
			SkbExpr: skbExprs[i%len(skbExprs)],
			XdpExpr: xdpExprs[i%len(xdpExprs)],
		})
	}
	casesJSON, err := json.Marshal(cases)
	if err != nil {
		t.Fatal(err)
	}
	execs, execRuns := execCases(t)
	execJSON, err := json.Marshal(execs)
	if err != nil {
		t.Fatal(err)
	}
	root, err := vm.ModuleRoot()
	if err != nil {
		t.Fatal(err)
	}
	tmp := t.TempDir()
	guest := filepath.Join(tmp, "filterverify")
	build := exec.Command("go", "build", "-trimpath", "-o", guest, "./internal/bpffilter/verify")
	build.Dir = root
	build.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("build guest: %v\n%s", err, out)
	}
	objs := map[string]string{"/placeholders.o": filepath.Join(root, "internal/bpffilter/patch/testdata/placeholders.o")}
	if p := filepath.Join(root, "bpf/pwru_x86_bpfel.o"); fileExists(p) {
		objs["/pwru.o"] = p
	}
	files := map[string]string{
		"/bin/filterverify": guest,
		"/runner.o":         filepath.Join(root, "internal/bpffilter/patch/testdata/runner.o"),
	}
	var guestObjs []string
	for g, h := range objs {
		files[g] = h
		guestObjs = append(guestObjs, g)
	}
	for _, series := range strings.Split(*flagKernels, ",") {
		t.Run(series, func(t *testing.T) {
			ctx := context.Background()
			k, err := vm.Fetch(ctx, series, "")
			if err != nil {
				t.Fatal(err)
			}
			res, err := vm.Run(ctx, vm.Config{
				Kernel: k,
				Files:  files,
				Data:   map[string][]byte{"/cases.json": casesJSON, "/exec.json": execJSON},
				Script: "/bin/filterverify -cases /cases.json -obj " + strings.Join(guestObjs, ",") +
					" -exec /exec.json -runner /runner.o > /out/result.txt 2>&1\n",
				Timeout: 20 * time.Minute,
				OutDir:  filepath.Join(tmp, series),
			})
			if err != nil {
				t.Fatal(err)
			}
			out, err := os.ReadFile(filepath.Join(res.OutDir, "result.txt"))
			if err != nil {
				t.Fatalf("no result (status %d): %v\n%s", res.Status, err, res.ConsoleTail(30))
			}
			oks, execOK, total := 0, 0, false
			for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
				switch {
				case strings.HasPrefix(line, "ok "):
					oks++
					t.Log(line)
				case strings.HasPrefix(line, "exec ok "):
					execOK++
				case strings.HasPrefix(line, "exec total: "):
					total = true
					t.Log(line)
				default:
					t.Error(line)
				}
			}
			if !total {
				t.Error("the guest did not finish the execution cases")
			}
			t.Logf("%s: %d of %d execution cases agree with libpcap / the expected verdict in the kernel (%d test runs)",
				k, execOK, len(execs), execRuns)
			t.Logf("%s: %d of %d loads accepted by the verifier (%d cases x %d objects), guest run %.1fs",
				k, oks, len(cases)*len(objs), len(cases), len(objs), res.Total.Seconds())
			if res.Status != 0 && oks == len(cases)*len(objs) && execOK == len(execs) {
				t.Errorf("guest exited with status %d", res.Status)
			}
		})
	}
}

func fileExists(p string) bool {
	_, err := os.Stat(p)
	return err == nil
}
