package tracer

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"strings"
	"time"

	"golang.org/x/sys/unix"

	"github.com/pwru-record/pwru-record/format"
	"github.com/pwru-record/pwru-record/tracer/internal/procfs"
)

// Errors of the preflight checks, for the CLI to recognise.
var (
	// ErrPrivileges: the process may not load BPF programs.
	ErrPrivileges = errors.New("missing privileges: run as root or with CAP_BPF, CAP_PERFMON and CAP_SYS_ADMIN")
	// ErrNoBTF: the kernel exposes no BTF (CONFIG_DEBUG_INFO_BTF).
	ErrNoBTF = errors.New("kernel without BTF: /sys/kernel/btf/vmlinux is missing (CONFIG_DEBUG_INFO_BTF=y needed)")
	// ErrKallsymsHidden: /proc/kallsyms shows zero addresses.
	ErrKallsymsHidden = procfs.ErrKallsymsHidden
)

const (
	vmlinuxBTFPath = "/sys/kernel/btf/vmlinux"
	moduleBTFDir   = "/sys/kernel/btf"
)

// CheckPrivileges reports [ErrPrivileges] when the process has neither
// CAP_SYS_ADMIN nor CAP_BPF together with CAP_PERFMON.
func CheckPrivileges() error {
	hdr := unix.CapUserHeader{Version: unix.LINUX_CAPABILITY_VERSION_3}
	var data [2]unix.CapUserData
	if err := unix.Capget(&hdr, &data[0]); err != nil {
		return fmt.Errorf("read capabilities: %w", err)
	}
	has := func(c uint) bool { return data[c/32].Effective&(1<<(c%32)) != 0 }
	if has(unix.CAP_SYS_ADMIN) || (has(unix.CAP_BPF) && has(unix.CAP_PERFMON)) {
		return nil
	}
	return ErrPrivileges
}

// checkBTF reports [ErrNoBTF] when the kernel has no vmlinux BTF.
func checkBTF() error {
	if _, err := os.Stat(vmlinuxBTFPath); err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return ErrNoBTF
		}
		return fmt.Errorf("check kernel BTF: %w", err)
	}
	return nil
}

// addBPFKallsyms stores the symbols of BPF code loaded since the kallsyms
// snapshot (known: the addresses of BPF symbols it had) as another kallsyms
// section.
func addBPFKallsyms(w *format.Writer, known map[uint64]bool) error {
	f, err := os.Open(procfs.KallsymsPath)
	if err != nil {
		return fmt.Errorf("read kallsyms: %w", err)
	}
	defer f.Close()
	syms, err := bpfKallsyms(f, known)
	if err != nil {
		return err
	}
	if len(syms) == 0 {
		return nil
	}
	if err := w.AddKallsyms(syms); err != nil {
		return fmt.Errorf("store kallsyms: %w", err)
	}
	return nil
}

// textResult is a text file read by [readTextAsync].
type textResult struct {
	text *procfs.Text
	took time.Duration
	err  error
}

// readTextAsync reads the first of paths that opens, on its own
// goroutine, and delivers it on the returned channel.
func readTextAsync(paths ...string) <-chan textResult {
	ch := make(chan textResult, 1)
	go func() {
		t := time.Now()
		text, err := procfs.ReadFirst(paths...)
		ch <- textResult{text, time.Since(t), err}
	}()
	return ch
}

// kallsymsResult is /proc/kallsyms read and checked by
// [readKallsymsAsync].
type kallsymsResult struct {
	syms *procfs.Kallsyms
	took time.Duration
	err  error
}

// readKallsymsAsync reads /proc/kallsyms and checks every line on its own
// goroutine, and delivers the result on the returned channel.
func readKallsymsAsync() <-chan kallsymsResult {
	ch := make(chan kallsymsResult, 1)
	go func() {
		t := time.Now()
		text, err := procfs.ReadFirst(procfs.KallsymsPath)
		if err != nil {
			ch <- kallsymsResult{err: fmt.Errorf("read kallsyms: %w", err), took: time.Since(t)}
			return
		}
		syms, err := procfs.CheckKallsyms(text)
		ch <- kallsymsResult{syms, time.Since(t), err}
	}()
	return ch
}

// lockdownPath is the kernel lockdown state ("none [integrity]
// confidentiality", the active mode in brackets).
var lockdownPath = "/sys/kernel/security/lockdown"

// availHint is the advice for an error opening available_filter_functions
// (" (...)", or "" when there is none): mount tracefs when it is missing,
// and when it is refused, whether kernel lockdown or privileges refuse it.
func availHint(err error) string {
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return " (mount tracefs: mount -t tracefs tracefs /sys/kernel/tracing)"
	case errors.Is(err, fs.ErrPermission):
		if b, rerr := os.ReadFile(lockdownPath); rerr == nil {
			s := string(b)
			if i, j := strings.IndexByte(s, '['), strings.IndexByte(s, ']'); i >= 0 && j > i && s[i+1:j] != "none" {
				return fmt.Sprintf(" (tracefs is refused by kernel lockdown, mode %s: boot without lockdown, e.g. with Secure Boot off or lockdown=none where allowed)", s[i+1:j])
			}
		}
		return " (tracefs is refused: run as root, with CAP_SYS_ADMIN)"
	}
	return ""
}

// hostHeader fills the host facts of a capture header.
func hostHeader() (format.Header, error) {
	var h format.Header
	var err error
	if h.Hostname, err = os.Hostname(); err != nil {
		return h, fmt.Errorf("read hostname: %w", err)
	}
	var u unix.Utsname
	if err := unix.Uname(&u); err != nil {
		return h, fmt.Errorf("uname: %w", err)
	}
	h.Uname = format.Uname{
		Sysname: unix.ByteSliceToString(u.Sysname[:]),
		Release: unix.ByteSliceToString(u.Release[:]),
		Version: unix.ByteSliceToString(u.Version[:]),
		Machine: unix.ByteSliceToString(u.Machine[:]),
	}
	if b, err := os.ReadFile("/proc/sys/kernel/random/boot_id"); err == nil {
		h.BootID = strings.TrimSpace(string(b))
	}
	off, err := monoOffset()
	if err != nil {
		return h, err
	}
	h.MonoOffset = off
	h.Start = time.Now()
	return h, nil
}

// monoOffset returns CLOCK_REALTIME - CLOCK_MONOTONIC in ns, taking the
// tightest of a few samples.
func monoOffset() (int64, error) {
	best := int64(-1)
	var off int64
	for range 5 {
		var a, m, b unix.Timespec
		if err := unix.ClockGettime(unix.CLOCK_REALTIME, &a); err != nil {
			return 0, fmt.Errorf("read realtime clock: %w", err)
		}
		if err := unix.ClockGettime(unix.CLOCK_MONOTONIC, &m); err != nil {
			return 0, fmt.Errorf("read monotonic clock: %w", err)
		}
		if err := unix.ClockGettime(unix.CLOCK_REALTIME, &b); err != nil {
			return 0, fmt.Errorf("read realtime clock: %w", err)
		}
		span := b.Nano() - a.Nano()
		if best < 0 || span < best {
			best = span
			off = a.Nano() + span/2 - m.Nano()
		}
	}
	return off, nil
}

// resolveIfname finds the ifindex of name in the netns with inode ino
// (0 = the recorder's own).
func resolveIfname(ifs []format.Interface, refs []procfs.NetnsRef, ino uint32, name string) (uint32, error) {
	if ino == 0 && len(refs) > 0 {
		ino = refs[0].Inode // /proc/self/ns/net comes first
	}
	for _, i := range ifs {
		if i.Netns == ino && i.Name == name {
			return i.Ifindex, nil
		}
	}
	return 0, fmt.Errorf("%w: --filter-ifname: no interface %q in netns %d", ErrConfig, name, ino)
}

// raiseFileLimit lifts RLIMIT_NOFILE to its hard limit: every kprobe link
// holds file descriptors.
func raiseFileLimit() {
	var r unix.Rlimit
	if unix.Getrlimit(unix.RLIMIT_NOFILE, &r) == nil && r.Cur < r.Max {
		r.Cur = r.Max
		_ = unix.Setrlimit(unix.RLIMIT_NOFILE, &r)
	}
}
