package analyze

import (
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"

	"github.com/cilium/ebpf/btf"

	"github.com/pwru-record/pwru-record/format"
)

func copyBTF(fw *format.Writer, src *format.File) error {
	for _, m := range src.BTFModules() {
		raw, err := src.RawBTF(m)
		if err != nil {
			return fmt.Errorf("read btf %q: %w", m, err)
		}
		if err := fw.AddBTF(m, raw); err != nil {
			return fmt.Errorf("write btf %q: %w", m, err)
		}
	}
	return nil
}

// writeTrimmedSymbols keeps the symbols of the probes hit and of addrs.
func writeTrimmedSymbols(fw *format.Writer, c *Capture, r *redactor, addrs map[uint64]struct{}, hit map[uint32]bool) (uint64, error) {
	syms := c.Symbols()
	if syms == nil || syms.Len() == 0 {
		return 0, nil
	}
	keep := map[uint64]format.Symbol{}
	for a := range addrs {
		if s, _, ok := syms.Lookup(a); ok {
			keep[s.Addr] = s
		}
	}
	names := map[string]bool{}
	for _, p := range c.File.Probes() {
		if !hit[p.ID] {
			continue
		}
		if p.Addr != 0 {
			if s, _, ok := syms.Lookup(p.Addr); ok {
				keep[s.Addr] = s
			}
		}
		names[p.Name] = true
	}
	for _, s := range syms.All() {
		if names[s.Name] {
			keep[s.Addr] = s
		}
	}
	out := slices.SortedFunc(maps.Values(keep), func(a, b format.Symbol) int {
		if a.Addr != b.Addr {
			if a.Addr < b.Addr {
				return -1
			}
			return 1
		}
		return strings.Compare(a.Name, b.Name)
	})
	if len(out) == 0 {
		return 0, nil
	}
	if err := fw.AddKallsyms(r.symbols(out)); err != nil {
		return 0, fmt.Errorf("write kallsyms: %w", err)
	}
	return uint64(len(out)), nil
}

// writeTrimmedBTF writes a small vmlinux BTF with the types the analyzer
// renders.
func writeTrimmedBTF(fw *format.Writer, c *Capture, skb, shinfo bool) error {
	spec := c.BTF()
	if spec == nil {
		return nil
	}
	var roots []btf.Type
	var reasons *btf.Enum
	if err := spec.TypeByName("skb_drop_reason", &reasons); err == nil {
		roots = append(roots, btf.Copy(reasons))
	} else if !errors.Is(err, btf.ErrNotFound) {
		c.noteUnusable(fmt.Errorf("find enum skb_drop_reason in btf: %w", err))
	}
	for _, want := range []struct {
		name string
		ok   bool
	}{{"sk_buff", skb}, {"skb_shared_info", shinfo}} {
		if !want.ok {
			continue
		}
		var s *btf.Struct
		if err := spec.TypeByName(want.name, &s); err == nil {
			roots = append(roots, stubPointees(btf.Copy(s)))
		} else if !errors.Is(err, btf.ErrNotFound) {
			c.noteUnusable(fmt.Errorf("find struct %s in btf: %w", want.name, err))
		}
	}
	if len(roots) == 0 {
		return nil
	}
	b, err := btf.NewBuilder(roots, nil)
	if err != nil {
		return fmt.Errorf("trim btf: %w", err)
	}
	raw, err := b.Marshal(nil, nil)
	if err != nil {
		return fmt.Errorf("trim btf: %w", err)
	}
	if err := fw.AddBTF("", raw); err != nil {
		return fmt.Errorf("write btf: %w", err)
	}
	return nil
}

// stubPointees replaces, in a copied type graph, every named struct or
// union reached through a pointer by a forward declaration, so the graph
// holds only what is embedded by value.
func stubPointees(root btf.Type) btf.Type {
	seen := map[btf.Type]bool{}
	var walk func(t btf.Type)
	walk = func(t btf.Type) {
		if t == nil || seen[t] {
			return
		}
		seen[t] = true
		switch v := t.(type) {
		case *btf.Pointer:
			target := v.Target
			inner := btf.QualifiedType(target)
			switch p := inner.(type) {
			case *btf.Struct:
				if p.Name != "" && p != root {
					v.Target = &btf.Fwd{Name: p.Name, Kind: btf.FwdStruct}
					return
				}
			case *btf.Union:
				if p.Name != "" {
					v.Target = &btf.Fwd{Name: p.Name, Kind: btf.FwdUnion}
					return
				}
			case *btf.FuncProto:
				v.Target = &btf.Void{}
				return
			}
			walk(target)
		case *btf.Struct:
			for _, m := range v.Members {
				walk(m.Type)
			}
		case *btf.Union:
			for _, m := range v.Members {
				walk(m.Type)
			}
		case *btf.Array:
			walk(v.Type)
		case *btf.Typedef:
			walk(v.Type)
		case *btf.Const:
			walk(v.Type)
		case *btf.Volatile:
			walk(v.Type)
		case *btf.Restrict:
			walk(v.Type)
		case *btf.TypeTag:
			walk(v.Type)
		}
	}
	walk(root)
	return root
}
