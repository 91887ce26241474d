package skbexpr

import (
	"errors"
	"fmt"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/asm"
	"github.com/cilium/ebpf/btf"

	"github.com/pwru-record/pwru-record/internal/bpffilter/patch"
)

// Names of the placeholder functions in the kernel program (DESIGN.md).
const (
	// PlaceholderSkb is `bool filter_skb_expr(struct sk_buff *skb)`.
	PlaceholderSkb = "filter_skb_expr"
	// PlaceholderXdp is `bool filter_xdp_expr(struct xdp_buff *xdp)`.
	PlaceholderXdp = "filter_xdp_expr"
)

// Root struct names accepted by [Compile].
const (
	RootSkb = "sk_buff"
	RootXdp = "xdp_buff"
)

// placeholderRoot maps each placeholder to the struct its argument points to.
var placeholderRoot = map[string]string{
	PlaceholderSkb: RootSkb,
	PlaceholderXdp: RootXdp,
}

// rootPlaceholder gives the label prefix for each root; labels must be
// unique within a program and each placeholder is injected once.
var rootPlaceholder = map[string]string{
	RootSkb: PlaceholderSkb,
	RootXdp: PlaceholderXdp,
}

// Compile compiles expr into the body of a function `bool f(struct <root>
// *p)` for root [RootSkb] ("sk_buff", expressions start with skb) or
// [RootXdp] ("xdp_buff", expressions start with xdp), using the struct
// layouts in spec (the kernel's BTF). The body returns 1 in R0 when expr is
// true and 0 when it is false or when a read of kernel memory on the way
// fails (a NULL pointer in a chain, for example). It uses at most
// [StackBytes] bytes of stack; R6 holds the root pointer (a callee's R6-R9
// need no saving). Errors read `compile expression
// "<expr>": <what is wrong>`; the package documentation gives the grammar.
func Compile(expr string, root string, spec *btf.Spec) (asm.Instructions, error) {
	insns, err := compile(expr, root, spec)
	if err != nil {
		return nil, fmt.Errorf("compile expression %q: %w", expr, err)
	}
	return insns, nil
}

func compile(expr, root string, spec *btf.Spec) (asm.Instructions, error) {
	ident, ok := roots[root]
	if !ok {
		return nil, fmt.Errorf("unsupported root struct %q (want %s or %s)", root, RootSkb, RootXdp)
	}
	if spec == nil {
		return nil, errors.New("no BTF to resolve fields with")
	}
	n, err := parse(expr)
	if err != nil {
		return nil, err
	}
	var st *btf.Struct
	if err := spec.TypeByName(root, &st); err != nil {
		return nil, fmt.Errorf("find struct %s in BTF: %w", root, err)
	}
	g := &gen{prefix: rootPlaceholder[root], root: st, ident: ident}
	if err := g.check(n); err != nil {
		return nil, err
	}
	g.emit(asm.Mov.Reg(regRoot, asm.R1))
	match, nomatch := g.label(), g.label()
	exit := g.prefix + "_exit"
	if err := g.cond(n, match, nomatch, 0); err != nil {
		return nil, err
	}
	g.place(match)
	g.emit(asm.Mov.Imm(asm.R0, 1), asm.Ja.Label(exit))
	g.place(nomatch)
	g.emit(asm.Mov.Imm(asm.R0, 0), asm.Ja.Label(exit))
	if g.reads > 0 {
		g.place(g.fault())
		g.emit(asm.Mov.Imm(asm.R0, 0), asm.Ja.Label(exit))
	}
	return patch.Frame(g.insns, exit), nil
}

// Inject compiles expr for the placeholder (PlaceholderSkb or
// PlaceholderXdp) with the struct layouts of kernel and replaces the
// placeholder's body in every program of spec that contains it. An empty
// expr leaves spec untouched (the default body matches everything). It is
// an error if no program contains the placeholder.
func Inject(spec *ebpf.CollectionSpec, placeholder, expr string, kernel *btf.Spec) error {
	if expr == "" {
		return nil
	}
	root, ok := placeholderRoot[placeholder]
	if !ok {
		return fmt.Errorf("inject expression: unknown placeholder %q", placeholder)
	}
	code, err := Compile(expr, root, kernel)
	if err != nil {
		return err
	}
	if _, err := patch.Replace(spec, placeholder, code); err != nil {
		return fmt.Errorf("inject expression: %w", err)
	}
	return nil
}
