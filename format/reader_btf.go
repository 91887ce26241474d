package format

import (
	"bytes"
	"cmp"
	"fmt"
	"slices"

	"github.com/cilium/ebpf/btf"
)

// This file serves the capture's kallsyms and BTF.

// Symbols returns the kallsyms snapshot (all kallsyms sections merged).
func (f *File) Symbols() (*Symbols, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.symbols != nil {
		return f.symbols, nil
	}
	var all []Symbol
	for _, s := range f.syms {
		_, p, err := f.readSection(s, nil, nil)
		if err == nil {
			var syms []Symbol
			if syms, err = decodeKallsyms(p); err == nil {
				all = append(all, syms...)
				continue
			}
			err = &SectionError{Type: s.Type, Offset: s.Offset, Err: err}
		}
		if !f.opts.SkipCorrupt {
			return nil, fmt.Errorf("read kallsyms: %w", err)
		}
	}
	if len(f.syms) == 1 {
		f.symbols = &Symbols{syms: all} // stored sorted
		if !slices.IsSortedFunc(all, func(a, b Symbol) int { return cmp.Compare(a.Addr, b.Addr) }) {
			f.symbols = NewSymbols(all)
		}
	} else {
		f.symbols = NewSymbols(all)
	}
	return f.symbols, nil
}

// BTFModules lists the modules whose BTF is stored ("" = vmlinux), in
// file order. It is empty when the BTF sections cannot be read (RawBTF
// says why).
func (f *File) BTFModules() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	_ = f.btfIndex()
	return slices.Clone(f.btfOrder)
}

// RawBTF returns the stored BTF of module ("" = vmlinux). The caller owns
// the result.
func (f *File) RawBTF(module string) ([]byte, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.rawBTFLocked(module)
}

func (f *File) rawBTFLocked(module string) ([]byte, error) {
	if err := f.btfIndex(); err != nil {
		return nil, err
	}
	s, ok := f.btfs[module]
	if !ok {
		return nil, fmt.Errorf("read btf %q: %w", module, ErrNotFound)
	}
	_, p, err := f.readSection(s, nil, nil)
	if err != nil {
		return nil, fmt.Errorf("read btf %q: %w", module, err)
	}
	_, raw, err := decodeBTF(p)
	if err != nil {
		return nil, fmt.Errorf("read btf %q: %w", module, err)
	}
	return raw, nil
}

// BTF returns the vmlinux BTF. The spec is cached and shared.
func (f *File) BTF() (*btf.Spec, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.vmlinuxLocked()
}

func (f *File) vmlinuxLocked() (*btf.Spec, error) {
	if f.vmlinux != nil {
		return f.vmlinux, nil
	}
	raw, err := f.rawBTFLocked("")
	if err != nil {
		return nil, err
	}
	spec, err := btf.LoadSpecFromReader(bytes.NewReader(raw))
	if err != nil {
		return nil, fmt.Errorf("load vmlinux btf: %w", err)
	}
	f.vmlinux = spec
	return spec, nil
}

// ModuleBTF returns the BTF of a kernel module, split on the vmlinux BTF.
func (f *File) ModuleBTF(name string) (*btf.Spec, error) {
	if name == "" {
		return f.BTF()
	}
	f.mu.Lock()
	base, err := f.vmlinuxLocked()
	f.mu.Unlock()
	if err != nil {
		return nil, err
	}
	raw, err := f.RawBTF(name)
	if err != nil {
		return nil, err
	}
	spec, err := btf.LoadSplitSpecFromReader(bytes.NewReader(raw), base)
	if err != nil {
		return nil, fmt.Errorf("load btf of module %s: %w", name, err)
	}
	return spec, nil
}
