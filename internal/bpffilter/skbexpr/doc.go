// Package skbexpr compiles the C-like expressions of pwru-record's
// --filter-skb-expr and --filter-xdp-expr flags into eBPF, using struct
// layouts from the kernel's BTF, and injects the code into the kernel
// program's filter_skb_expr / filter_xdp_expr placeholders.
//
// # Grammar
//
// An expression is a condition over the fields of the traced struct,
// reached from its root pointer: skb (struct sk_buff *) for
// --filter-skb-expr, xdp (struct xdp_buff *) for --filter-xdp-expr.
//
//	expr    = and { "||" and }
//	and     = cmp { "&&" cmp }
//	cmp     = bitor [ ( "==" | "!=" | "<" | "<=" | ">" | ">=" ) bitor ]
//	bitor   = bitand { "|" bitand }
//	bitand  = unary { "&" unary }
//	unary   = "!" unary | primary
//	primary = "(" expr ")" | [ "-" ] number | field
//	field   = root { ( "->" | "." ) name }
//	number  = decimal | "0x" hex          (up to 64 bits)
//
// Examples:
//
//	skb->len > 100 && skb->dev->ifindex == 3
//	skb->mark & 0xff == 1
//	skb->protocol == 0x0008             (network byte order, as stored)
//	skb->pkt_type != 0 || !skb->sk
//	skb->sk->__sk_common.skc_family == 10
//	xdp->rxq->dev->ifindex == 2
//
// Differences from C, chosen for filters typed on a command line:
//   - & and | bind tighter than comparisons, so `skb->mark & 0xff == 1`
//     means `(skb->mark & 0xff) == 1`.
//   - Comparisons do not chain (`a < b < c` is an error).
//   - All arithmetic is 64-bit. A comparison is signed when a signed field
//     takes part and no unsigned field or pointer does; literals adapt.
//     Fields are zero- or sign-extended according to their BTF type.
//   - A field or number on its own is true when not zero; a condition used
//     as a number is 1 or 0.
//
// Fields follow C: "->" dereferences a pointer to a struct or union, "."
// selects a member of an embedded struct or union, and members of anonymous
// structs and unions are found through their parent (skb->dev works
// although dev sits in an anonymous union). The final field must be an
// integer, enum, bool, pointer or bitfield (bitfields are read and shifted
// into place; little-endian kernels only). Arrays and whole structs cannot
// be compared. The root on its own (skb) is the pointer value.
//
// # Runtime behaviour
//
// Each dereference and each field read is a bpf_probe_read_kernel into the
// program's stack: the skb is not directly readable in a kprobe. When a read
// fails (a NULL dev, for instance) the whole filter returns false, even
// under !: `!(skb->dev->ifindex == 3)` does not match an skb without a
// device. Guard chains with && or || (`skb->dev && skb->dev->ifindex == 3`)
// to make the intent explicit.
//
// The generated function body uses at most [StackBytes] bytes of its own
// stack frame and returns 0 or 1.
package skbexpr
