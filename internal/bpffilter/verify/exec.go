package main

import (
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/btf"
	"golang.org/x/net/bpf"

	"github.com/pwru-record/pwru-record/internal/bpffilter/patch"
	"github.com/pwru-record/pwru-record/internal/bpffilter/pcap"
	"github.com/pwru-record/pwru-record/internal/bpffilter/skbexpr"
)

// ExecCase runs one injected filter over inputs in the kernel, through the
// BPF_PROG_TYPE_SYSCALL program of runner.o and BPF_PROG_TEST_RUN.
type ExecCase struct {
	Name        string `json:"name"`
	Placeholder string `json:"placeholder"`
	// CBPF is the filter for the pcap placeholders.
	CBPF []bpf.RawInstruction `json:"cbpf,omitempty"`
	// Expr is the expression for filter_skb_expr / filter_xdp_expr.
	Expr   string      `json:"expr,omitempty"`
	Inputs []ExecInput `json:"inputs"`
}

// ExecInput is one run: packet bytes for pcap placeholders; for skb/xdp
// placeholders Data is empty and Name selects an object image built here
// from the kernel's BTF ("full" or "nulldev", see buildImage).
type ExecInput struct {
	Name string `json:"name"`
	Data []byte `json:"data,omitempty"`
	Want bool   `json:"want"`
}

// which numbers the placeholders as runner.c's switch does.
var which = map[string]uint32{
	pcap.PlaceholderL2: 0, pcap.PlaceholderL3: 1,
	pcap.PlaceholderTunnelL2: 2, pcap.PlaceholderTunnelL3: 3,
	skbexpr.PlaceholderSkb: 4, skbexpr.PlaceholderXdp: 5,
}

// Layout of the map value for skb/xdp images (bytes from its start).
const (
	bufSize = 4096
	offSkb  = 0
	offDev  = 1024
	offXdp  = 2048
	offRxq  = 3072
)

func runExec(w io.Writer, casesPath, runner string, kernel *btf.Spec) (int, error) {
	raw, err := os.ReadFile(casesPath)
	if err != nil {
		return 0, fmt.Errorf("read exec cases: %w", err)
	}
	var cases []ExecCase
	if err := json.Unmarshal(raw, &cases); err != nil {
		return 0, fmt.Errorf("decode exec cases: %w", err)
	}
	failed, runs := 0, 0
	for _, c := range cases {
		n, err := execCase(c, runner, kernel)
		runs += n
		if err != nil {
			failed++
			fmt.Fprintf(w, "exec FAIL %s: %s\n", c.Name, oneLine(err))
			continue
		}
		fmt.Fprintf(w, "exec ok %s: %d inputs\n", c.Name, n)
	}
	fmt.Fprintf(w, "exec total: %d cases, %d failed, %d kernel runs\n", len(cases), failed, runs)
	return failed, nil
}

func execCase(c ExecCase, runner string, kernel *btf.Spec) (int, error) {
	w, ok := which[c.Placeholder]
	if !ok {
		return 0, fmt.Errorf("unknown placeholder %q", c.Placeholder)
	}
	spec, err := ebpf.LoadCollectionSpec(runner)
	if err != nil {
		return 0, fmt.Errorf("load spec: %w", err)
	}
	if c.Expr != "" {
		if err := skbexpr.Inject(spec, c.Placeholder, c.Expr, kernel); err != nil {
			return 0, err
		}
	} else {
		filter := make([]bpf.Instruction, len(c.CBPF))
		for i, r := range c.CBPF {
			filter[i] = r.Disassemble()
		}
		code, err := pcap.Translate(filter, c.Placeholder)
		if err != nil {
			return 0, err
		}
		if _, err := patch.Replace(spec, c.Placeholder, code); err != nil {
			return 0, err
		}
	}
	coll, err := ebpf.NewCollection(spec)
	if err != nil {
		var ve *ebpf.VerifierError
		if errors.As(err, &ve) {
			n := len(ve.Log)
			return 0, fmt.Errorf("%v: %v", err, ve.Log[max(0, n-8):])
		}
		return 0, err
	}
	defer coll.Close()
	prog, mem := coll.Programs["run"], coll.Maps["mem"]
	if prog == nil || mem == nil {
		return 0, errors.New("runner object lacks program run or map mem")
	}
	run := func(buf []byte, n, rootOff uint32) (int32, uint64, error) {
		if buf != nil {
			if err := mem.Put(uint32(0), buf); err != nil {
				return 0, 0, fmt.Errorf("fill map: %w", err)
			}
		}
		ctx := make([]byte, 24)
		binary.LittleEndian.PutUint32(ctx[0:], w)
		binary.LittleEndian.PutUint32(ctx[4:], n)
		binary.LittleEndian.PutUint32(ctx[8:], rootOff)
		out := make([]byte, 24)
		ret, err := prog.Run(&ebpf.RunOptions{Context: ctx, ContextOut: out})
		if err != nil {
			return 0, 0, fmt.Errorf("test run: %w", err)
		}
		return int32(ret), binary.LittleEndian.Uint64(out[16:]), nil
	}
	// A first run with an empty buffer learns the map value's address,
	// which object images need for their pointers.
	_, base, err := run(make([]byte, bufSize), 0, 0)
	if err != nil {
		return 0, err
	}
	for i, in := range c.Inputs {
		buf := make([]byte, bufSize)
		var n, root uint32
		if c.Expr != "" {
			if err := buildImage(buf, base, in.Name, kernel); err != nil {
				return i, err
			}
			root = offSkb
			if c.Placeholder == skbexpr.PlaceholderXdp {
				root = offXdp
			}
		} else {
			if len(in.Data) > bufSize {
				return i, fmt.Errorf("input %s: %d bytes, at most %d", in.Name, len(in.Data), bufSize)
			}
			copy(buf, in.Data)
			// Junk after the packet: a missing bounds check would read it.
			for j := len(in.Data); j < len(in.Data)+64 && j < bufSize; j++ {
				buf[j] = 0xa5
			}
			n = uint32(len(in.Data))
		}
		ret, _, err := run(buf, n, root)
		if err != nil {
			return i, err
		}
		if ret != 0 && ret != 1 {
			return i, fmt.Errorf("input %s: program returned %d", in.Name, ret)
		}
		if got := ret == 1; got != in.Want {
			return i, fmt.Errorf("input %s: kernel says %v, want %v", in.Name, got, in.Want)
		}
	}
	return len(c.Inputs), nil
}

// buildImage lays out an sk_buff (with a net_device) and an xdp_buff
// (with an xdp_rxq_info pointing at the same net_device) in buf, whose
// kernel address is base, using member offsets from kernel: skb->len 1500,
// skb->mark 0x123456ff, skb->protocol 0x0008, dev->ifindex 3,
// rxq->queue_index 2. Image "nulldev" leaves skb->dev NULL.
func buildImage(buf []byte, base uint64, name string, kernel *btf.Spec) error {
	put := func(obj int, st, field string, size int, v uint64) error {
		off, err := memberOffset(kernel, st, field)
		if err != nil {
			return err
		}
		p := buf[obj+int(off):]
		switch size {
		case 2:
			binary.LittleEndian.PutUint16(p, uint16(v))
		case 4:
			binary.LittleEndian.PutUint32(p, uint32(v))
		case 8:
			binary.LittleEndian.PutUint64(p, v)
		}
		return nil
	}
	steps := []error{
		put(offSkb, "sk_buff", "len", 4, 1500),
		put(offSkb, "sk_buff", "mark", 4, 0x1234_56ff),
		put(offSkb, "sk_buff", "protocol", 2, 0x0008),
		put(offDev, "net_device", "ifindex", 4, 3),
		put(offXdp, "xdp_buff", "rxq", 8, base+offRxq),
		put(offRxq, "xdp_rxq_info", "dev", 8, base+offDev),
		put(offRxq, "xdp_rxq_info", "queue_index", 4, 2),
	}
	switch name {
	case "full":
		steps = append(steps, put(offSkb, "sk_buff", "dev", 8, base+offDev))
	case "nulldev":
	default:
		return fmt.Errorf("unknown image %q", name)
	}
	return errors.Join(steps...)
}

// memberOffset finds a member of a struct by name, looking into anonymous
// members, and returns its byte offset. It is deliberately a separate,
// minimal implementation from the one in skbexpr.
func memberOffset(kernel *btf.Spec, st, field string) (uint32, error) {
	var s *btf.Struct
	if err := kernel.TypeByName(st, &s); err != nil {
		return 0, fmt.Errorf("find struct %s: %w", st, err)
	}
	var walk func(members []btf.Member) (uint32, bool)
	walk = func(members []btf.Member) (uint32, bool) {
		for _, m := range members {
			if m.Name == field {
				return uint32(m.Offset) / 8, true
			}
			if m.Name != "" {
				continue
			}
			var inner []btf.Member
			switch t := btf.UnderlyingType(m.Type).(type) {
			case *btf.Struct:
				inner = t.Members
			case *btf.Union:
				inner = t.Members
			}
			if off, ok := walk(inner); ok {
				return uint32(m.Offset)/8 + off, true
			}
		}
		return 0, false
	}
	off, ok := walk(s.Members)
	if !ok {
		return 0, fmt.Errorf("no member %s in struct %s", field, st)
	}
	return off, nil
}
