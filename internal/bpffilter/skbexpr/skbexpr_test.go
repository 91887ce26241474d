package skbexpr

import (
	"bytes"
	"encoding/binary"
	"errors"
	"os"
	"strconv"
	"strings"
	"testing"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/asm"
	"github.com/cilium/ebpf/btf"

	"github.com/pwru-record/pwru-record/internal/bpffilter/patch"
	"github.com/pwru-record/pwru-record/internal/ebpfinterp"
)

// testBTF builds a small kernel-like BTF: struct sk_buff with anonymous
// unions, bitfields, typedefs, enums and pointers to net_device and sock,
// and struct xdp_buff. Offsets are fixed here and used by testImage.
func testBTF(tb testing.TB) *btf.Spec {
	tb.Helper()
	u8 := &btf.Int{Name: "unsigned char", Size: 1}
	s8 := &btf.Int{Name: "signed char", Size: 1, Encoding: btf.Signed}
	char := &btf.Int{Name: "char", Size: 1, Encoding: btf.Char}
	u16 := &btf.Int{Name: "unsigned short", Size: 2}
	u32 := &btf.Int{Name: "unsigned int", Size: 4}
	s32 := &btf.Int{Name: "int", Size: 4, Encoding: btf.Signed}
	u64 := &btf.Int{Name: "unsigned long long", Size: 8}
	s64 := &btf.Int{Name: "long long", Size: 8, Encoding: btf.Signed}
	ptr := func(t btf.Type) *btf.Pointer { return &btf.Pointer{Target: t} }
	bits := func(bytes uint32) btf.Bits { return btf.Bits(bytes * 8) }

	netdev := &btf.Struct{Name: "net_device", Size: 32, Members: []btf.Member{
		{Name: "name", Type: &btf.Array{Index: u32, Type: char, Nelems: 16}},
		{Name: "ifindex", Type: s32, Offset: bits(16)},
		{Name: "flags", Type: &btf.Volatile{Type: u32}, Offset: bits(20)},
	}}
	sockCommon := &btf.Struct{Name: "sock_common", Size: 24, Members: []btf.Member{
		{Name: "skc_family", Type: u16, Offset: bits(16)},
	}}
	sock := &btf.Struct{Name: "sock", Size: 32, Members: []btf.Member{
		{Name: "__sk_common", Type: sockCommon},
		{Name: "sk_mark", Type: u32, Offset: bits(24)},
	}}
	skb := &btf.Struct{Name: "sk_buff", Size: 144}
	devUnion := &btf.Union{Size: 8, Members: []btf.Member{
		{Name: "dev", Type: ptr(netdev)},
		{Name: "dev_scratch", Type: &btf.Typedef{Name: "u64", Type: u64}},
	}}
	listStruct := &btf.Struct{Size: 24, Members: []btf.Member{
		{Name: "next", Type: ptr(skb)},
		{Name: "prev", Type: ptr(skb), Offset: bits(8)},
		{Type: devUnion, Offset: bits(16)},
	}}
	outer := &btf.Union{Size: 24, Members: []btf.Member{
		{Type: listStruct},
		{Name: "rb_dummy", Type: u64},
	}}
	skb.Members = []btf.Member{
		{Type: outer},
		{Name: "sk", Type: ptr(sock), Offset: bits(24)},
		{Name: "cb", Type: &btf.Array{Index: u32, Type: char, Nelems: 48}, Offset: bits(32)},
		{Name: "len", Type: u32, Offset: bits(80)},
		{Name: "data_len", Type: u32, Offset: bits(84)},
		{Name: "mac_len", Type: &btf.Typedef{Name: "__u16", Type: u16}, Offset: bits(88)},
		{Name: "pkt_type", Type: u8, Offset: bits(90), BitfieldSize: 3},
		{Name: "ignore_df", Type: u8, Offset: bits(90) + 3, BitfieldSize: 1},
		{Name: "sbits", Type: s8, Offset: bits(90) + 4, BitfieldSize: 4},
		{Name: "wide", Type: u32, Offset: bits(91) + 2, BitfieldSize: 20},
		{Name: "mark", Type: &btf.Const{Type: u32}, Offset: bits(96)},
		{Name: "protocol", Type: &btf.Typedef{Name: "__be16", Type: u16}, Offset: bits(100)},
		{Name: "headers", Type: &btf.Struct{Size: 8, Members: []btf.Member{
			{Name: "skb_iif", Type: s32},
			{Name: "vlan_tci", Type: u16, Offset: bits(4)},
		}}, Offset: bits(104)},
		{Name: "hash64", Type: u64, Offset: bits(112)},
		{Name: "prio", Type: &btf.Enum{Name: "prio", Size: 4, Signed: true, Values: []btf.EnumValue{{Name: "LOW", Value: 0}}}, Offset: bits(120)},
		{Name: "tstamp_s", Type: s64, Offset: bits(128)},
		{Name: "head", Type: ptr(u8), Offset: bits(136)},
	}
	rxq := &btf.Struct{Name: "xdp_rxq_info", Size: 16, Members: []btf.Member{
		{Name: "dev", Type: ptr(netdev)},
		{Name: "queue_index", Type: u32, Offset: bits(8)},
	}}
	xdp := &btf.Struct{Name: "xdp_buff", Size: 32, Members: []btf.Member{
		{Name: "data", Type: ptr(&btf.Void{})},
		{Name: "data_end", Type: ptr(&btf.Void{}), Offset: bits(8)},
		{Name: "rxq", Type: ptr(rxq), Offset: bits(16)},
		{Name: "flags", Type: u32, Offset: bits(24)},
	}}
	b, err := btf.NewBuilder([]btf.Type{skb, xdp}, nil)
	if err != nil {
		tb.Fatal(err)
	}
	spec, err := b.Spec()
	if err != nil {
		tb.Fatal(err)
	}
	return spec
}

const (
	addrSkb  uint64 = 0xffff_8880_0020_0000
	addrDev  uint64 = 0xffff_8880_0030_0000
	addrSock uint64 = 0xffff_8880_0040_0000
	addrXdp  uint64 = 0xffff_8880_0050_0000
	addrRxq  uint64 = 0xffff_8880_0060_0000
)

// testImage lays out objects for testBTF by hand. withDev false leaves
// skb->dev NULL.
func testImage(tb testing.TB, withDev bool) *ebpfinterp.Memory {
	tb.Helper()
	skb := make([]byte, 144)
	dev := make([]byte, 32)
	sock := make([]byte, 32)
	xdp := make([]byte, 32)
	rxq := make([]byte, 16)
	le := binary.LittleEndian
	le.PutUint64(skb[0:], addrSkb) // next: itself
	if withDev {
		le.PutUint64(skb[16:], addrDev)
	}
	le.PutUint64(skb[24:], addrSock)
	copy(skb[32:], "cb bytes")
	le.PutUint32(skb[80:], 1500)
	le.PutUint16(skb[88:], 14)
	// pkt_type=3 (bits 0-2), ignore_df=1 (bit 3), sbits=-3 (bits 4-7: 0b1101)
	skb[90] = 0x03 | 0x08 | 0xd0
	// wide = 0xabcde at bit 2 of byte 91, with set noise bits around it.
	le.PutUint32(skb[91:], 0xabcde<<2|0x3|0xff<<22)
	le.PutUint32(skb[96:], 0x1234_56ff)
	skb[100], skb[101] = 0x08, 0x00 // protocol ETH_P_IP in network order
	le.PutUint32(skb[104:], uint32(0xfffffff9))
	le.PutUint16(skb[108:], 100)
	le.PutUint64(skb[112:], 0xdead_beef_0000_0001)
	le.PutUint32(skb[120:], uint32(0xfffffffe))
	le.PutUint64(skb[128:], uint64(0xfffffffffffffffb))

	copy(dev, "eth0")
	le.PutUint32(dev[16:], 3)
	le.PutUint32(dev[20:], 0x1003)
	le.PutUint16(sock[16:], 10)
	le.PutUint32(sock[24:], 77)

	le.PutUint64(xdp[16:], addrRxq)
	le.PutUint64(rxq[0:], addrDev)
	le.PutUint32(rxq[8:], 2)

	mem := &ebpfinterp.Memory{}
	for _, r := range []struct {
		addr uint64
		data []byte
	}{{addrSkb, skb}, {addrDev, dev}, {addrSock, sock}, {addrXdp, xdp}, {addrRxq, rxq}} {
		if err := mem.Map(r.addr, r.data); err != nil {
			tb.Fatal(err)
		}
	}
	return mem
}

// run executes code as the kernel program calls the placeholder (a
// callee: only R1 and R10 hold values) and checks the invariants every run
// keeps.
func run(tb testing.TB, code asm.Instructions, mem *ebpfinterp.Memory, arg uint64) bool {
	tb.Helper()
	res, err := ebpfinterp.Run(code, &ebpfinterp.Options{Memory: mem}, arg)
	if err != nil {
		tb.Fatalf("run: %v\n%v", err, code)
	}
	if res.R0 > 1 {
		tb.Fatalf("r0 = %d, want 0 or 1", res.R0)
	}
	if res.MaxStackDepth > StackBytes {
		tb.Fatalf("used %d bytes of stack, StackBytes is %d", res.MaxStackDepth, StackBytes)
	}
	return res.R0 == 1
}

func TestEvaluate(t *testing.T) {
	spec := testBTF(t)
	full, noDev := testImage(t, true), testImage(t, false)
	tests := []struct {
		expr  string
		root  string
		mem   *ebpfinterp.Memory
		arg   uint64
		want  bool
		reads int // bpf_probe_read_kernel calls on this input, -1 to skip
	}{
		{"skb->len > 100 && skb->dev->ifindex == 3", RootSkb, full, addrSkb, true, 3},
		{"skb->len > 1500", RootSkb, full, addrSkb, false, 1},
		{"skb->len >= 1500", RootSkb, full, addrSkb, true, 1},
		{"skb->len < 3 && skb->dev->ifindex == 3", RootSkb, full, addrSkb, false, 1},
		{"skb->mark & 0xff == 0xff", RootSkb, full, addrSkb, true, 1},
		{"skb->mark & 0xff == 1", RootSkb, full, addrSkb, false, 1},
		{"(skb->mark | 0xf00) & 0xf00 == 0xf00", RootSkb, full, addrSkb, true, 1},
		{"skb->mark == 0x123456ff", RootSkb, full, addrSkb, true, 1},
		{"skb->protocol == 0x0008", RootSkb, full, addrSkb, true, 1},
		{"skb->pkt_type == 3", RootSkb, full, addrSkb, true, 1},
		{"skb->ignore_df", RootSkb, full, addrSkb, true, 1},
		{"skb->sbits == -3", RootSkb, full, addrSkb, true, 1},
		{"skb->sbits < 0", RootSkb, full, addrSkb, true, 1},
		{"skb->wide == 0xabcde", RootSkb, full, addrSkb, true, 1},
		{"skb->mac_len == 14", RootSkb, full, addrSkb, true, 1},
		{"skb->headers.skb_iif == -7", RootSkb, full, addrSkb, true, 1},
		{"skb->headers.skb_iif < 0", RootSkb, full, addrSkb, true, 1},
		{"skb->headers.vlan_tci == 100", RootSkb, full, addrSkb, true, 1},
		{"skb->hash64 == 0xdeadbeef00000001", RootSkb, full, addrSkb, true, 1},
		{"skb->hash64 > 0x7fffffffffffffff", RootSkb, full, addrSkb, true, 1},
		{"skb->prio < 0", RootSkb, full, addrSkb, true, 1},
		{"skb->tstamp_s == -5", RootSkb, full, addrSkb, true, 1},
		{"skb->tstamp_s > 0", RootSkb, full, addrSkb, false, 1},
		{"skb->sk->__sk_common.skc_family == 10", RootSkb, full, addrSkb, true, 2},
		{"skb->sk->sk_mark != 77", RootSkb, full, addrSkb, false, 2},
		{"skb->next->next->len == 1500", RootSkb, full, addrSkb, true, 3},
		{"skb->dev_scratch == 0xffff888000300000", RootSkb, full, addrSkb, true, 1},
		{"skb->len == skb->len", RootSkb, full, addrSkb, true, 2},
		{"skb->mac_len < skb->len && skb->dev->flags & 0x1 != 0", RootSkb, full, addrSkb, true, 4},
		{"!skb->len == 0", RootSkb, full, addrSkb, true, 1},
		{"(skb->len > 1) == 1", RootSkb, full, addrSkb, true, 1},
		{"!(skb->len < 3) || skb", RootSkb, full, addrSkb, true, 1},
		{"skb->len < 3 || skb->mark == 0x123456ff", RootSkb, full, addrSkb, true, 2},
		{"skb->len > 100 && (skb->mark == 1 || skb->dev->ifindex == 3)", RootSkb, full, addrSkb, true, 4},
		{"skb->dev", RootSkb, full, addrSkb, true, 1},
		{"skb->head == 0", RootSkb, full, addrSkb, true, 1},
		{"skb->dev->ifindex != 3", RootSkb, full, addrSkb, false, 2},
		{"skb->len > -1", RootSkb, full, addrSkb, false, 1}, // unsigned: -1 is the largest value
		{"1", RootSkb, full, addrSkb, true, 0},
		{"0", RootSkb, full, addrSkb, false, 0},
		{"0x10 & 0x1", RootSkb, full, addrSkb, false, 0},
		{"skb->dev->ifindex == 3", RootSkb, noDev, addrSkb, false, 2},
		{"!(skb->dev->ifindex == 3)", RootSkb, noDev, addrSkb, false, 2},
		{"skb->dev == 0 || skb->dev->ifindex == 3", RootSkb, noDev, addrSkb, true, 1},
		{"skb->dev && skb->dev->ifindex == 3", RootSkb, noDev, addrSkb, false, 1},
		{"skb->len > 0", RootSkb, full, 0x1000, false, 1}, // unreadable skb
		{"skb != 0", RootSkb, full, 0x1000, true, 0},
		{"xdp->rxq->dev->ifindex == 3", RootXdp, full, addrXdp, true, 3},
		{"xdp->rxq->queue_index == 2 && xdp->data == 0", RootXdp, full, addrXdp, true, 3},
	}
	for _, tt := range tests {
		t.Run(tt.expr, func(t *testing.T) {
			code, err := Compile(tt.expr, tt.root, spec)
			if err != nil {
				t.Fatal(err)
			}
			if err := patch.Check(code, 1); err != nil {
				t.Fatalf("%v\n%v", err, code)
			}
			if got := run(t, code, tt.mem, tt.arg); got != tt.want {
				t.Errorf("got %v, want %v\n%v", got, tt.want, code)
			}
			opts := &ebpfinterp.Options{Memory: tt.mem}
			res, err := ebpfinterp.Run(code, opts, tt.arg)
			if err != nil {
				t.Fatal(err)
			}
			if tt.reads >= 0 && res.HelperCalls != tt.reads {
				t.Errorf("%d reads, want %d (short-circuit evaluation)", res.HelperCalls, tt.reads)
			}
		})
	}
}

func TestErrors(t *testing.T) {
	spec := testBTF(t)
	deep := strings.Repeat("(", 70) + "1" + strings.Repeat(")", 70)
	temps := strings.Repeat("1 & (", 17) + "1" + strings.Repeat(")", 17)
	tests := []struct {
		expr string
		root string
		want string
	}{
		{"", RootSkb, "empty expression"},
		{"  ", RootSkb, "empty expression"},
		{"skb->len >", RootSkb, `unexpected end of expression, want a field, a number or "("`},
		{"skb->len > > 3", RootSkb, `unexpected ">" at column 12, want a field, a number or "("`},
		{"skb->foo == 1", RootSkb, `unknown field "foo" in struct sk_buff`},
		{"skb->dev->bar", RootSkb, `unknown field "bar" in struct net_device`},
		{"skb->headers.nope", RootSkb, `unknown field "nope" in an anonymous struct`},
		{"sk->len", RootSkb, `unknown identifier "sk" at column 1: expressions start with skb`},
		{"skb->len > 1", RootXdp, `unknown identifier "skb" at column 1: expressions start with xdp`},
		{"skb->len # 3", RootSkb, `unexpected character '#' at column 10`},
		{"skb->cb == 1", RootSkb, `skb->cb is an array, not a number or pointer`},
		{"skb->headers == 1", RootSkb, `skb->headers is an anonymous struct, not a number or pointer`},
		{"skb->len->x", RootSkb, `skb->len is unsigned int, not a pointer: use "." instead of "->"`},
		{"skb.len", RootSkb, `skb is a pointer: use "->" instead of "."`},
		{"skb->dev.ifindex", RootSkb, `skb->dev is a pointer: use "->" instead of "."`},
		{"skb->head->x", RootSkb, `skb->head->x: unsigned char has no fields`},
		{"skb->pkt_type->x", RootSkb, `skb->pkt_type is unsigned char, not a pointer: use "." instead of "->"`},
		{"1 < 2 < 3", RootSkb, `chained comparison "<" at column 7: add parentheses`},
		{"(skb->len", RootSkb, `unexpected end of expression, want ")"`},
		{"skb->len)", RootSkb, `unexpected ")" at column 9, want an operator`},
		{"skb->len 3", RootSkb, `unexpected "3" at column 10, want an operator`},
		{"0xzz", RootSkb, `invalid number "0xzz" at column 1`},
		{"12ab", RootSkb, `invalid number "12ab" at column 1`},
		{"99999999999999999999", RootSkb, `number 99999999999999999999 at column 1 does not fit in 64 bits`},
		{"-0x8000000000000001", RootSkb, `number -0x8000000000000001 at column 1 is out of range`},
		{"skb->", RootSkb, `unexpected end of expression, want a field name after "->"`},
		{"- skb", RootSkb, `unexpected "skb" at column 3, want a number after "-"`},
		{"skb->len = 3", RootSkb, `unexpected character '=' at column 10`},
		{deep, RootSkb, `expression nested deeper than 64 at column 65`},
		{temps, RootSkb, `expression too deeply nested for the stack`},
		{"skb->len", "sock", `unsupported root struct "sock" (want sk_buff or xdp_buff)`},
	}
	for _, tt := range tests {
		t.Run(tt.expr, func(t *testing.T) {
			_, err := Compile(tt.expr, tt.root, spec)
			want := `compile expression "` + strings.ReplaceAll(tt.expr, `"`, `\"`) + `": ` + tt.want
			if err == nil || err.Error() != want {
				t.Errorf("error:\n got %v\nwant %s", err, want)
			}
		})
	}
	if _, err := Compile("skb->len", RootSkb, nil); err == nil || !strings.Contains(err.Error(), "no BTF") {
		t.Errorf("nil BTF: %v", err)
	}
}

// TestParseTree checks precedence and associativity through a rendering of
// the parse tree.
func TestParseTree(t *testing.T) {
	tests := []struct{ expr, want string }{
		{"skb->mark & 0xff == 1", "(== (& skb->mark 255) 1)"},
		{"a || b && c", "(|| a (&& b c))"},
		{"a && b || c", "(|| (&& a b) c)"},
		{"a | b & c == d", "(== (| a (& b c)) d)"},
		{"!a == 0", "(== (! a) 0)"},
		{"!(a == 0)", "(! (== a 0))"},
		{"a->b.c->d", "a->b.c->d"},
		{"a & b & c", "(& (& a b) c)"},
		{"-1 < x", "(< 18446744073709551615 x)"},
		{"0X1f", "31"},
		{"((a))", "a"},
	}
	for _, tt := range tests {
		t.Run(tt.expr, func(t *testing.T) {
			n, err := parse(tt.expr)
			if err != nil {
				t.Fatal(err)
			}
			if got := render(n); got != tt.want {
				t.Errorf("got %s, want %s", got, tt.want)
			}
		})
	}
}

func render(n node) string {
	switch n := n.(type) {
	case *numNode:
		return strconv.FormatUint(n.val, 10)
	case *fieldNode:
		return n.String()
	case *notNode:
		return "(! " + render(n.x) + ")"
	case *binNode:
		return "(" + n.op + " " + render(n.l) + " " + render(n.r) + ")"
	}
	return "?"
}

// TestVmlinux compiles the documented examples against the running
// kernel's BTF when it is readable.
func TestVmlinux(t *testing.T) {
	f, err := os.Open("/sys/kernel/btf/vmlinux")
	if err != nil {
		t.Skipf("no kernel BTF on this host: %v", err)
	}
	defer f.Close()
	spec, err := btf.LoadSpecFromReader(f)
	if err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct{ expr, root string }{
		{"skb->len > 100 && skb->dev->ifindex == 3", RootSkb},
		{"skb->mark & 0xff == 1", RootSkb},
		{"skb->protocol == 0x0008", RootSkb},
		{"skb->pkt_type != 0 || !skb->sk", RootSkb},
		{"skb->sk->__sk_common.skc_family == 10", RootSkb},
		{"skb->cloned && skb->hash == 0", RootSkb},
		{"skb->dev->nd_net.net->ns.inum == 4026531840", RootSkb},
		{"xdp->rxq->dev->ifindex == 2", RootXdp},
		{"xdp->data_end - 1", RootXdp},
	} {
		t.Run(tt.expr, func(t *testing.T) {
			code, err := Compile(tt.expr, tt.root, spec)
			if tt.expr == "xdp->data_end - 1" {
				if err == nil {
					t.Fatal("subtraction is not in the grammar but compiled")
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if err := patch.Check(code, 1); err != nil {
				t.Fatal(err)
			}
		})
	}
}

// TestInjectELF injects into the clang-built test program and checks the
// result still encodes and runs.
func TestInjectELF(t *testing.T) {
	spec, err := ebpf.LoadCollectionSpec("../patch/testdata/placeholders.o")
	if err != nil {
		t.Fatal(err)
	}
	kernel := testBTF(t)
	if err := Inject(spec, PlaceholderSkb, "skb->len > 100 && skb->dev->ifindex == 3", kernel); err != nil {
		t.Fatal(err)
	}
	if err := Inject(spec, PlaceholderXdp, "xdp->rxq->queue_index == 2", kernel); err != nil {
		t.Fatal(err)
	}
	if err := Inject(spec, PlaceholderXdp, "", kernel); err != nil {
		t.Fatalf("empty expression: %v", err)
	}
	for prog, c := range map[string]struct {
		fn   string
		arg  uint64
		want bool
	}{
		"probe_skb": {PlaceholderSkb, addrSkb, true},
		"probe_xdp": {PlaceholderXdp, addrXdp, true},
	} {
		insns := spec.Programs[prog].Instructions
		var buf bytes.Buffer
		if err := insns.Marshal(&buf, binary.LittleEndian); err != nil {
			t.Fatalf("%s: marshal: %v", prog, err)
		}
		start, end, ok := patch.Bounds(insns, c.fn)
		if !ok {
			t.Fatalf("%s: %s missing", prog, c.fn)
		}
		if btf.FuncMetadata(&insns[start]) == nil {
			t.Errorf("%s: %s lost its BTF func info", prog, c.fn)
		}
		body := append(asm.Instructions(nil), insns[start:end]...)
		body[0] = body[0].WithSymbol("")
		if err := patch.Check(body, 1); err != nil {
			t.Fatal(err)
		}
		if got := run(t, body, testImage(t, true), c.arg); got != c.want {
			t.Errorf("%s: got %v, want %v", prog, got, c.want)
		}
	}
	err = Inject(spec, "filter_other", "skb->len", kernel)
	if err == nil || err.Error() != `inject expression: unknown placeholder "filter_other"` {
		t.Errorf("unknown placeholder: %v", err)
	}
	other, err := ebpf.LoadCollectionSpec("../patch/testdata/placeholders.o")
	if err != nil {
		t.Fatal(err)
	}
	delete(other.Programs, "probe_xdp")
	if err := Inject(other, PlaceholderXdp, "xdp->flags", kernel); !errors.Is(err, patch.ErrNotFound) {
		t.Errorf("placeholder absent: %v, want ErrNotFound", err)
	}
}

func FuzzCompile(f *testing.F) {
	for _, s := range []string{"skb->len > 100 && skb->dev->ifindex == 3", "!(skb->mark & 0xff == 1)", "skb->headers.vlan_tci", "(", "-", "0x", "skb->", "1 < 2 < 3"} {
		f.Add(s)
	}
	spec := testBTF(f)
	f.Fuzz(func(t *testing.T, expr string) {
		code, err := Compile(expr, RootSkb, spec)
		if (err == nil) == (code == nil) {
			t.Fatalf("error %v and code %d: want exactly one", err, len(code))
		}
		if err != nil {
			if strings.Contains(err.Error(), "\n") {
				t.Fatalf("multi-line error %q", err)
			}
			return
		}
		if err := patch.Check(code, 1); err != nil {
			t.Fatal(err)
		}
		run(t, code, testImage(t, true), addrSkb)
	})
}
