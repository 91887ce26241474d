package tracer

import (
	"errors"
	"fmt"
	"maps"
	"os"
	"slices"
	"strings"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/asm"
	"github.com/cilium/ebpf/features"
	"github.com/cilium/ebpf/link"

	"github.com/pwru-record/pwru-record/bpf"
	"github.com/pwru-record/pwru-record/format"
	"github.com/pwru-record/pwru-record/tracer/internal/procfs"
)

// kernelCaps is what the running kernel offers the recorder, probed at
// start (cilium/ebpf features, BTF, sysfs), never read off its version.
type kernelCaps struct {
	attachCookie bool // bpf_get_attach_cookie in kprobe programs
	dropReason   bool // the skb:kfree_skb tracepoint passes a drop reason
	moduleBTF    bool // loaded modules have BTF in /sys/kernel/btf
	kprobeMulti  bool // kprobe.multi links
}

// probeKernelCaps probes the running kernel; vmlinux is its BTF.
func probeKernelCaps(vmlinux *procfs.BTF) kernelCaps {
	return kernelCaps{
		attachCookie: features.HaveProgramHelper(ebpf.Kprobe, asm.FnGetAttachCookie) == nil,
		dropReason:   tracepointHasDropReason(vmlinux),
		moduleBTF:    haveModuleBTF(moduleBTFDir, "/proc/modules"),
		kprobeMulti:  features.HaveBPFLinkKprobeMulti() == nil,
	}
}

// tracepointHasDropReason tells whether skb:kfree_skb passes a reason
// (skb, location, reason, ...); without its prototype it is assumed to
// (the tracepoint attach then says).
func tracepointHasDropReason(vmlinux *procfs.BTF) bool {
	n, ok := vmlinux.TracepointArgs("kfree_skb")
	return !ok || n >= 3
}

// haveModuleBTF tells whether the kernel gives loaded modules BTF: some
// module's BTF is in btfDir, or no module is loaded (nothing to miss).
func haveModuleBTF(btfDir, procModules string) bool {
	ents, err := os.ReadDir(btfDir)
	if err != nil {
		return false
	}
	for _, e := range ents {
		if e.Name() != "vmlinux" {
			return true
		}
	}
	b, err := os.ReadFile(procModules)
	if err != nil {
		// A kernel without modules has none to miss.
		return errors.Is(err, os.ErrNotExist)
	}
	return strings.TrimSpace(string(b)) == ""
}

// lacks names what the kernel lacks, for the capture header
// (format.Header.KernelLacks) and the start line.
func (k kernelCaps) lacks() []string {
	var l []string
	if !k.moduleBTF {
		l = append(l, format.LackModuleBTF)
	}
	if !k.dropReason {
		l = append(l, format.LackDropReason)
	}
	if !k.attachCookie {
		l = append(l, format.LackAttachCookie)
	}
	if !k.kprobeMulti {
		l = append(l, format.LackKprobeMulti)
	}
	return l
}

// lacksLine is the one line the recorder says at start about what the
// kernel lacks and what that costs ("" when it lacks nothing).
func (k kernelCaps) lacksLine() string {
	var parts []string
	if !k.moduleBTF {
		parts = append(parts, "no module BTF (only vmlinux functions are traced)")
	}
	if !k.dropReason {
		parts = append(parts, "no drop reasons (drops are recorded without one)")
	}
	if !k.attachCookie {
		parts = append(parts, "no bpf_get_attach_cookie (kprobes are told apart by address)")
	}
	if !k.kprobeMulti {
		parts = append(parts, "no kprobe-multi (one kprobe per function: slower attach and detach)")
	}
	if len(parts) == 0 {
		return ""
	}
	return "kernel lacks: " + strings.Join(parts, "; ")
}

// unseenModuleFuncs counts the module functions ftrace lists (of the
// modules in want, or of every module with all) that a kernel without
// module BTF keeps from being traced; it returns the modules, sorted.
func unseenModuleFuncs(text *procfs.Text, want map[string]bool, all bool) ([]string, int) {
	n := 0
	mods := make(map[string]bool)
	procfs.ScanAvailableFilterFunctions(text, func(_, mod []byte) {
		if len(mod) == 0 || !all && !want[string(mod)] {
			return
		}
		n++
		mods[string(mod)] = true
	})
	for m := range want {
		mods[m] = true
	}
	return slices.Sorted(maps.Keys(mods)), n
}

// errNoAddr: a probe cannot be told apart from the others without attach
// cookies, for want of its address.
var errNoAddr = errors.New("not attached: no kallsyms address, and this kernel has no attach cookies to tell the probe apart")

// kprobeOpts returns the options that give the kprobe of p its cookie:
// the attach cookie, or on a kernel without bpf_get_attach_cookie an
// entry for p's address in probe_addrs, stored before the probe is
// attached so that its first hit is known.
func (s *session) kprobeOpts(p *format.Probe, cookie uint64) (*link.KprobeOptions, error) {
	if !s.noCookie {
		return &link.KprobeOptions{Cookie: cookie}, nil
	}
	if p.Addr == 0 {
		return nil, errNoAddr
	}
	if err := s.coll.Maps[bpf.PwruMapProbeAddrs].Update(p.Addr, cookie, ebpf.UpdateAny); err != nil {
		return nil, fmt.Errorf("store probe address: %w", err)
	}
	return nil, nil
}
