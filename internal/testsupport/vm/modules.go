package vm

import (
	"bufio"
	"bytes"
	"debug/elf"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
)

// Module is one kernel module file resolved for loading.
type Module struct {
	Name    string   // module name with underscores, e.g. "nf_tables"
	Path    string   // host path of the .ko, .ko.xz or .ko.zst file
	Depends []string // names from the depends= modinfo string
	Data    []byte   // the uncompressed .ko
}

// normModName maps a module or file name to the form the kernel uses.
func normModName(s string) string {
	s = filepath.Base(s)
	for _, ext := range []string{".xz", ".zst", ".gz"} {
		s = strings.TrimSuffix(s, ext)
	}
	s = strings.TrimSuffix(s, ".ko")
	return strings.ReplaceAll(s, "-", "_")
}

// moduleIndex maps module names to files of the kernel.
func (k *Kernel) moduleIndex() (map[string]string, error) {
	idx := map[string]string{}
	err := filepath.WalkDir(k.ModDir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		n := d.Name()
		if !d.IsDir() && (strings.HasSuffix(n, ".ko") || strings.Contains(n, ".ko.")) {
			idx[normModName(n)] = p
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("index modules of %s: %w", k.Release, err)
	}
	return idx, nil
}

// builtinModules reads modules.builtin: the modules compiled into the image.
func (k *Kernel) builtinModules() map[string]bool {
	b := map[string]bool{}
	data, err := os.ReadFile(filepath.Join(k.ModDir, "modules.builtin"))
	if err != nil {
		return b
	}
	sc := bufio.NewScanner(bytes.NewReader(data))
	for sc.Scan() {
		if l := strings.TrimSpace(sc.Text()); l != "" {
			b[normModName(l)] = true
		}
	}
	return b
}

// IsBuiltin reports whether the named module is compiled into the image.
func (k *Kernel) IsBuiltin(name string) bool {
	return k.builtinModules()[normModName(name)]
}

// readModuleFile returns the uncompressed bytes of a module file.
func readModuleFile(p string) ([]byte, error) {
	var tool string
	switch {
	case strings.HasSuffix(p, ".ko"):
		data, err := os.ReadFile(p)
		if err != nil {
			return nil, fmt.Errorf("read module: %w", err)
		}
		return data, nil
	case strings.HasSuffix(p, ".xz"):
		tool = "xz"
	case strings.HasSuffix(p, ".zst"):
		tool = "zstd"
	case strings.HasSuffix(p, ".gz"):
		tool = "gzip"
	default:
		return nil, fmt.Errorf("read module %s: unknown compression", p)
	}
	var stderr bytes.Buffer
	cmd := exec.Command(tool, "-dc", p)
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return nil, fmt.Errorf("decompress module %s: %s: %w: %s", p, tool, err, strings.TrimSpace(stderr.String()))
	}
	return out, nil
}

// ParseModinfo returns the key=value strings of a module's .modinfo
// section. Keys that occur more than once (alias, parm, ...) keep every
// value in order.
func ParseModinfo(ko []byte) (map[string][]string, error) {
	f, err := elf.NewFile(bytes.NewReader(ko))
	if err != nil {
		return nil, fmt.Errorf("parse module: %w", err)
	}
	sec := f.Section(".modinfo")
	if sec == nil {
		return nil, errors.New("parse module: no .modinfo section")
	}
	data, err := sec.Data()
	if err != nil {
		return nil, fmt.Errorf("parse module: read .modinfo: %w", err)
	}
	return parseModinfoStrings(data), nil
}

func parseModinfoStrings(data []byte) map[string][]string {
	info := map[string][]string{}
	for _, kv := range bytes.Split(data, []byte{0}) {
		k, v, ok := strings.Cut(string(kv), "=")
		if !ok || k == "" {
			continue
		}
		info[k] = append(info[k], v)
	}
	return info
}

// modDeps returns the hard dependencies and the softdep "pre:" modules.
func modDeps(info map[string][]string) (hard, pre []string) {
	for _, d := range info["depends"] {
		for _, n := range strings.Split(d, ",") {
			if n = strings.TrimSpace(n); n != "" {
				hard = append(hard, normModName(n))
			}
		}
	}
	for _, s := range info["softdep"] {
		f := strings.Fields(s)
		inPre := false
		for _, w := range f {
			switch w {
			case "pre:":
				inPre = true
			case "post:":
				inPre = false
			default:
				if inPre {
					pre = append(pre, normModName(w))
				}
			}
		}
	}
	return hard, pre
}

// ModuleClosure resolves names and everything they depend on (the
// depends= modinfo strings, plus softdep pre: modules that exist) and
// returns the modules in load order, dependencies first. Modules built
// into the image are left out. A name that is neither a module file nor
// built in is an error.
func (k *Kernel) ModuleClosure(names []string) ([]Module, error) {
	idx, err := k.moduleIndex()
	if err != nil {
		return nil, err
	}
	builtin := k.builtinModules()
	var order []Module
	state := map[string]int{} // 1 visiting, 2 done
	var visit func(name string, optional bool, chain []string) error
	visit = func(name string, optional bool, chain []string) error {
		switch state[name] {
		case 1:
			return fmt.Errorf("resolve module %s: dependency cycle %s", name, strings.Join(append(chain, name), " -> "))
		case 2:
			return nil
		}
		if builtin[name] {
			state[name] = 2
			return nil
		}
		p, ok := idx[name]
		if !ok {
			if optional {
				state[name] = 2
				return nil
			}
			return fmt.Errorf("resolve module %s (needed by %s): not a module of %s nor built in", name, strings.Join(chain, " -> "), k.Release)
		}
		state[name] = 1
		data, err := readModuleFile(p)
		if err != nil {
			return err
		}
		info, err := ParseModinfo(data)
		if err != nil {
			return fmt.Errorf("resolve module %s: %w", name, err)
		}
		hard, pre := modDeps(info)
		for _, d := range pre {
			if err := visit(d, true, append(chain, name)); err != nil {
				return err
			}
		}
		for _, d := range hard {
			if err := visit(d, false, append(chain, name)); err != nil {
				return err
			}
		}
		state[name] = 2
		order = append(order, Module{Name: name, Path: p, Depends: hard, Data: data})
		return nil
	}
	for _, n := range names {
		if err := visit(normModName(n), false, []string{"request"}); err != nil {
			return nil, err
		}
	}
	return order, nil
}
