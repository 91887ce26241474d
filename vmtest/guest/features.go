//go:build linux

package main

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/asm"
	"github.com/cilium/ebpf/features"
	"github.com/cilium/ebpf/link"

	"github.com/pwru-record/pwru-record/vmtest/report"
)

// probeFeatures asks the running kernel what it can do, by trying it
// (cilium/ebpf's features package, loading and attaching tiny programs,
// BTF and tracefs files), never by its version. The host turns the answers
// into skips that name the feature and into the kernel matrix.
func probeFeatures() []report.Feature {
	plain := func(f func() error) func() (string, error) {
		return func() (string, error) { return "", f() }
	}
	probes := []struct {
		name  string
		probe func() (string, error)
	}{
		{report.FeatVmlinuxBTF, plain(func() error { return statErr("/sys/kernel/btf/vmlinux") })},
		{report.FeatModuleBTF, moduleBTF},
		{report.FeatKprobe, plain(func() error { return statErr("/sys/kernel/tracing/kprobe_events") })},
		{report.FeatKprobeMulti, plain(features.HaveBPFLinkKprobeMulti)},
		{report.FeatFentry, plain(probeFentry)},
		{report.FeatTCX, plain(probeTCX)},
		{report.FeatGetFuncIP, plain(func() error { return features.HaveProgramHelper(ebpf.Kprobe, asm.FnGetFuncIp) })},
		{report.FeatAttachCookie, plain(func() error { return features.HaveProgramHelper(ebpf.Kprobe, asm.FnGetAttachCookie) })},
		{report.FeatAtomicFetch, plain(probeAtomicFetch)},
		{report.FeatRingbuf, plain(func() error { return features.HaveMapType(ebpf.RingBuf) })},
		{report.FeatDropReason, dropReason},
	}
	var out []report.Feature
	for _, p := range probes {
		t := time.Now()
		detail, err := p.probe()
		f := report.Feature{Name: p.name, Have: err == nil, Detail: detail}
		if err != nil && f.Detail == "" {
			f.Detail = err.Error()
		}
		logf("feature %s: %v (%s) in %.2fs", f.Name, f.Have, f.Detail, time.Since(t).Seconds())
		out = append(out, f)
	}
	return out
}

func statErr(p string) error {
	_, err := os.Stat(p)
	return err
}

// moduleBTF looks for BTF of a loaded module (/init loads veth and others
// before the driver runs) beside /sys/kernel/btf/vmlinux.
func moduleBTF() (string, error) {
	ents, err := os.ReadDir("/sys/kernel/btf")
	if err != nil {
		return "", err
	}
	n := 0
	for _, e := range ents {
		if e.Name() != "vmlinux" {
			n++
		}
	}
	if n == 0 {
		return "", errors.New("no module in /sys/kernel/btf (modules are loaded)")
	}
	return fmt.Sprintf("%d modules in /sys/kernel/btf", n), nil
}

// dropReason reads whether the skb:kfree_skb tracepoint carries a reason.
func dropReason() (string, error) {
	b, err := os.ReadFile("/sys/kernel/tracing/events/skb/kfree_skb/format")
	if err != nil {
		return "", err
	}
	if !bytes.Contains(b, []byte(" reason;")) {
		return "", errors.New("skb:kfree_skb has no reason field")
	}
	return "skb:kfree_skb has a reason field", nil
}

var returnZero = asm.Instructions{asm.Mov.Imm(asm.R0, 0), asm.Return()}

// probeFentry loads and attaches an fentry program on ip_rcv.
func probeFentry() error {
	prog, err := ebpf.NewProgram(&ebpf.ProgramSpec{
		Type: ebpf.Tracing, AttachType: ebpf.AttachTraceFEntry, AttachTo: "ip_rcv",
		Instructions: returnZero, License: "GPL",
	})
	if err != nil {
		return fmt.Errorf("load fentry program: %w", err)
	}
	defer prog.Close()
	l, err := link.AttachTracing(link.TracingOptions{Program: prog})
	if err != nil {
		return fmt.Errorf("attach fentry: %w", err)
	}
	return l.Close()
}

// probeTCX attaches a tcx ingress program to lo and detaches it.
func probeTCX() error {
	prog, err := ebpf.NewProgram(&ebpf.ProgramSpec{
		Type: ebpf.SchedCLS, AttachType: ebpf.AttachTCXIngress,
		Instructions: asm.Instructions{asm.Mov.Imm(asm.R0, -1), asm.Return()}, License: "GPL",
	})
	if err != nil {
		return fmt.Errorf("load tcx program: %w", err)
	}
	defer prog.Close()
	l, err := link.AttachTCX(link.TCXOptions{Interface: 1, Program: prog, Attach: ebpf.AttachTCXIngress})
	if err != nil {
		return fmt.Errorf("attach tcx: %w", err)
	}
	return l.Close()
}

// BPF_ADD and BPF_FETCH (include/uapi/linux/bpf.h), the imm of an atomic
// fetch-and-add.
const (
	bpfAdd   = 0x00
	bpfFetch = 0x01
)

// probeAtomicFetch loads a kprobe program using an atomic fetch-and-add
// (what the recorder's track id counter needs).
func probeAtomicFetch() error {
	fetchAdd := asm.FetchAdd.Mem(asm.R2, asm.R1, asm.DWord, -8)
	// The kernel reads the atomic operation from imm (BPF_ADD |
	// BPF_FETCH); cilium/ebpf v0.22 marshals FetchAdd.Mem with imm 0, a
	// plain atomic add every kernel accepts.
	fetchAdd.Constant = bpfAdd | bpfFetch
	prog, err := ebpf.NewProgram(&ebpf.ProgramSpec{
		Type: ebpf.Kprobe,
		Instructions: asm.Instructions{
			asm.Mov.Imm(asm.R1, 0),
			asm.StoreMem(asm.RFP, -8, asm.R1, asm.DWord),
			asm.Mov.Imm(asm.R1, 1),
			asm.Mov.Reg(asm.R2, asm.RFP),
			fetchAdd,
			asm.Mov.Imm(asm.R0, 0),
			asm.Return(),
		},
		License: "GPL",
	})
	if err != nil {
		return fmt.Errorf("load atomic fetch-add: %w", firstLineErr(err))
	}
	return prog.Close()
}

// firstLineErr keeps a verifier error to its first line.
func firstLineErr(err error) error {
	s := err.Error()
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		return errors.New(s[:i])
	}
	return err
}
