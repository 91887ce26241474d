package patch

import (
	"errors"
	"fmt"
	"slices"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/asm"
	"github.com/cilium/ebpf/btf"
)

// ErrNotFound is returned (wrapped) by [Replace] when no program contains
// the function to replace, for example because the compiler inlined a
// placeholder that was not declared __noinline.
var ErrNotFound = errors.New("function not found in any program")

// Frame wraps body so it can serve as a function body. body starts with
// the function's arguments in R1-R5 and must end every path with a jump to
// exitLabel holding the verdict in R0 (any non-zero value means match).
// Frame appends, at exitLabel, code that turns R0 into 0 or 1 and exits.
// exitLabel must be unique within the program the result is injected into;
// Frame also defines exitLabel+"_ret".
//
// Frame does not save R6-R9: a BPF-to-BPF call gives the callee a fresh
// register frame in which the verifier rejects reading R6-R9 before they
// are written ("R6 !read_ok"), and the kernel (interpreter or JIT)
// restores the caller's R6-R9 on return. Generated code may therefore use
// them freely, as long as it writes before reading.
func Frame(body asm.Instructions, exitLabel string) asm.Instructions {
	out := make(asm.Instructions, 0, len(body)+3)
	out = append(out, body...)
	return append(out,
		asm.JEq.Imm(asm.R0, 0, exitLabel+"_ret").WithSymbol(exitLabel),
		asm.Mov.Imm(asm.R0, 1),
		asm.Return().WithSymbol(exitLabel+"_ret"),
	)
}

// Replace swaps the body of function name for body in every program of
// spec that contains it, and returns the names of the programs changed, in
// sorted order. The function's first instruction keeps its symbol, BTF func
// info and line info; body's first instruction must not define a symbol of
// its own. Replace fails if body defines a symbol that the program
// already uses, and with [ErrNotFound] if no program contains name.
// Programs are updated only when every one of them can be.
func Replace(spec *ebpf.CollectionSpec, name string, body asm.Instructions) ([]string, error) {
	if len(body) == 0 {
		return nil, fmt.Errorf("replace %s: empty body", name)
	}
	if body[0].Symbol() != "" {
		return nil, fmt.Errorf("replace %s: body starts with symbol %q", name, body[0].Symbol())
	}
	names := make([]string, 0, len(spec.Programs))
	for n := range spec.Programs {
		names = append(names, n)
	}
	slices.Sort(names)

	patched := make(map[string]asm.Instructions)
	var changed []string
	for _, pn := range names {
		prog := spec.Programs[pn]
		if prog == nil {
			continue
		}
		insns, ok, err := replaceIn(prog.Instructions, name, body)
		if err != nil {
			return nil, fmt.Errorf("replace %s in program %s: %w", name, pn, err)
		}
		if ok {
			patched[pn] = insns
			changed = append(changed, pn)
		}
	}
	if len(changed) == 0 {
		return nil, fmt.Errorf("replace %s: %w", name, ErrNotFound)
	}
	for pn, insns := range patched {
		spec.Programs[pn].Instructions = insns
	}
	return changed, nil
}

// Bounds returns the index range [start, end) of function name in insns,
// and false if insns has no instruction with that symbol. A function ends
// where the next function begins: the next instruction carrying BTF func
// metadata or a symbol that some call in insns refers to.
func Bounds(insns asm.Instructions, name string) (start, end int, ok bool) {
	start = slices.IndexFunc(insns, func(ins asm.Instruction) bool { return ins.Symbol() == name })
	if start < 0 {
		return 0, 0, false
	}
	funcs := make(map[string]bool)
	for _, ref := range insns.FunctionReferences() {
		funcs[ref] = true
	}
	for end = start + 1; end < len(insns); end++ {
		ins := &insns[end]
		if btf.FuncMetadata(ins) != nil || (ins.Symbol() != "" && funcs[ins.Symbol()]) {
			break
		}
	}
	return start, end, true
}

func replaceIn(insns asm.Instructions, name string, body asm.Instructions) (asm.Instructions, bool, error) {
	start, end, ok := Bounds(insns, name)
	if !ok {
		return nil, false, nil
	}
	used := make(map[string]bool)
	for i, ins := range insns {
		if s := ins.Symbol(); s != "" && (i < start || i >= end) {
			used[s] = true
		}
	}
	for _, ins := range body {
		if s := ins.Symbol(); s != "" && used[s] {
			return nil, false, fmt.Errorf("symbol %q defined twice (inject each placeholder once)", s)
		}
	}
	// Keep what marks the function start: its symbol, BTF func info and
	// line info. Everything else about the old first instruction goes.
	first := body[0].WithSymbol(name)
	if fn := btf.FuncMetadata(&insns[start]); fn != nil {
		first = btf.WithFuncMetadata(first, fn)
	}
	if src := insns[start].Source(); src != nil {
		first = first.WithSource(src)
	}
	out := make(asm.Instructions, 0, len(insns)-(end-start)+len(body))
	out = append(out, insns[:start]...)
	out = append(out, first)
	out = append(out, body[1:]...)
	out = append(out, insns[end:]...)
	return out, true, nil
}
