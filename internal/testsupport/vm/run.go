package vm

import (
	"archive/tar"
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Config describes one guest run.
type Config struct {
	// Kernel to boot (from [Fetch]).
	Kernel *Kernel
	// Files maps guest paths to host paths; dynamically linked binaries
	// bring their libraries (see [Initramfs.Files]).
	Files map[string]string
	// Data maps guest paths to file contents.
	Data map[string][]byte
	// Modules to load before the script runs, with their dependencies
	// (resolved by [Kernel.ModuleClosure]). The virtio modules the output
	// disk needs are always added.
	Modules []string
	// Script is run by busybox sh as /run.sh after the modules are loaded
	// and the file systems mounted. Whatever it writes to /out is copied
	// to OutDir. Its exit status becomes [Result.Status]. Debian's static
	// busybox sh runs its own applet before searching PATH, so call a
	// shipped program whose name is also an applet by its full path.
	Script string
	// Timeout bounds the whole run (default 10 minutes). A guest still
	// running then is killed and Run fails with the console tail.
	Timeout time.Duration
	// MemoryMiB is the guest memory (default 1024).
	MemoryMiB int
	// CPUs is the number of guest CPUs (default 1).
	CPUs int
	// OutDir receives the files of the guest's /out ("" = a new temporary
	// directory; see [Result.OutDir]).
	OutDir string
	// OutSizeMiB is the size of the output disk (default 1024, sparse).
	OutSizeMiB int
	// Console, if set, gets a live copy of the serial console.
	Console io.Writer
	// Cmdline is appended to the kernel command line.
	Cmdline string
	// Icount, when >= 0, runs the guest clock on instruction counting
	// (qemu -icount shift=Icount,sleep=on: 2^Icount ns per instruction),
	// so that time measured in the guest counts instructions, whatever
	// the load of the host; -1 = the host's clock (the zero value is
	// shift 0: set it on purpose).
	Icount *int
	// Gzip compresses the initramfs (smaller, slower to unpack under TCG).
	Gzip bool
	// KeepWork keeps the work directory (initramfs, disk image) and
	// reports it in [Result.WorkDir].
	KeepWork bool
}

// Result is what a finished guest run left behind.
type Result struct {
	// Status is the exit status of the script.
	Status int
	// Console is the whole serial console output.
	Console string
	// OutDir holds the files the guest wrote to /out.
	OutDir string
	// WorkDir is the kept work directory (only with Config.KeepWork).
	WorkDir string
	// Build is the time spent resolving modules and writing the initramfs.
	Build time.Duration
	// Boot is the time from starting qemu to /init running.
	Boot time.Duration
	// Script is the time from /init running to the exit marker.
	Script time.Duration
	// Total is the wall time of the whole run.
	Total time.Duration
}

// ConsoleTail returns the last n lines of the console.
func (r *Result) ConsoleTail(n int) string { return tail(r.Console, n) }

func tail(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// baseModules are loaded in every guest: the output disk needs virtio.
var baseModules = []string{"virtio_pci", "virtio_blk"}

const initTemplate = `#!/bin/sh
export PATH=/usr/sbin:/usr/bin:/sbin:/bin
export HOME=/root
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
mount -t debugfs debugfs /sys/kernel/debug 2>/dev/null
mount -t tracefs tracefs /sys/kernel/tracing 2>/dev/null
mount -t bpf bpf /sys/fs/bpf
mount -t tmpfs tmpfs /tmp
mount -t tmpfs tmpfs /run
mkdir -p /var/run/netns /run/netns
echo "@MARK@-INIT uptime=$(cut -d' ' -f1 /proc/uptime)"
fail() {
	echo "@MARK@-EXIT status=125 tar=1 reason=$1"
	poweroff -f
	sleep 60
}
while read -r m; do
	insmod /lib/modules/$m.ko || fail "insmod-$m"
done < /etc/vm-modules
i=0
while [ ! -b /dev/vda ]; do
	i=$((i+1))
	[ $i -gt 200 ] && fail "no-/dev/vda"
	sleep 0.05
done
ip link set lo up
ulimit -n 65536
echo "@MARK@-READY uptime=$(cut -d' ' -f1 /proc/uptime)"
cd /
sh /run.sh
rc=$?
cd /out && tar -cf /dev/vda . 
trc=$?
sync
echo "@MARK@-EXIT status=$rc tar=$trc"
poweroff -f
sleep 60
`

// kernelCmdline is the guest kernel's command line before cfg.Cmdline.
// no_timer_check: under TCG on a busy host the IO-APIC timer check can
// miss its ticks and panic the boot ("IO-APIC + timer doesn't work!", seen
// on 5.10 with the host's load at 60); the emulated timer works.
const kernelCmdline = "console=ttyS0 panic=-1 oops=panic mitigations=off no_timer_check quiet rdinit=/init"

// Run boots cfg.Kernel with an initramfs holding cfg.Files, cfg.Modules
// and cfg.Script, waits for the script to finish and copies the guest's
// /out to the host.
//
// Run returns an error when the guest could not be built or started, did
// not print its exit marker (panic, hang, timeout: the error carries the
// console tail) or its /out could not be brought back. A script that exits
// non-zero is not an error: check [Result.Status].
func Run(ctx context.Context, cfg Config) (*Result, error) {
	start := time.Now()
	if cfg.Kernel == nil {
		return nil, errors.New("run vm: no kernel")
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = 10 * time.Minute
	}
	if cfg.MemoryMiB <= 0 {
		cfg.MemoryMiB = 1024
	}
	if cfg.CPUs <= 0 {
		cfg.CPUs = 1
	}
	if cfg.OutSizeMiB <= 0 {
		cfg.OutSizeMiB = 1024
	}
	qemu, err := exec.LookPath("qemu-system-x86_64")
	if err != nil {
		return nil, fmt.Errorf("run vm: qemu-system-x86_64 not found (install qemu-system-x86): %w", err)
	}
	work, err := os.MkdirTemp("", "pwru-vm-")
	if err != nil {
		return nil, fmt.Errorf("run vm: %w", err)
	}
	res := &Result{OutDir: cfg.OutDir}
	if cfg.KeepWork {
		res.WorkDir = work
	} else {
		defer os.RemoveAll(work)
	}
	if res.OutDir == "" {
		if res.OutDir, err = os.MkdirTemp("", "pwru-vm-out-"); err != nil {
			return nil, fmt.Errorf("run vm: %w", err)
		}
	}

	mods, err := cfg.Kernel.ModuleClosure(append(append([]string{}, baseModules...), cfg.Modules...))
	if err != nil {
		return nil, fmt.Errorf("run vm: %w", err)
	}
	var nonce [6]byte
	rand.Read(nonce[:])
	mark := "PWRU-VM-" + hex.EncodeToString(nonce[:])
	data := map[string][]byte{"/run.sh": []byte(cfg.Script)}
	for k, v := range cfg.Data {
		data[k] = v
	}
	initrd := filepath.Join(work, "initrd.img")
	f, err := os.Create(initrd)
	if err != nil {
		return nil, fmt.Errorf("run vm: %w", err)
	}
	err = BuildInitramfs(f, &Initramfs{
		Files:   cfg.Files,
		Data:    data,
		Modules: mods,
		Init:    strings.ReplaceAll(initTemplate, "@MARK@", mark),
		Gzip:    cfg.Gzip,
	})
	if cerr := f.Close(); err == nil && cerr != nil {
		err = cerr
	}
	if err != nil {
		return nil, fmt.Errorf("run vm: %w", err)
	}
	disk := filepath.Join(work, "out.img")
	if err := makeSparse(disk, int64(cfg.OutSizeMiB)<<20); err != nil {
		return nil, fmt.Errorf("run vm: %w", err)
	}
	res.Build = time.Since(start)

	accel := "tcg"
	if cfg.CPUs > 1 {
		accel = "tcg,thread=multi"
	}
	args := []string{
		"-machine", "pc", "-accel", accel, "-cpu", "max",
		"-smp", strconv.Itoa(cfg.CPUs), "-m", strconv.Itoa(cfg.MemoryMiB),
		"-nodefaults", "-no-user-config", "-display", "none",
		"-serial", "stdio", "-no-reboot",
		"-kernel", cfg.Kernel.Vmlinuz, "-initrd", initrd,
		"-drive", "file=" + disk + ",format=raw,if=virtio,cache=unsafe",
		"-append", strings.TrimSpace(kernelCmdline + " " + cfg.Cmdline),
	}
	if cfg.Icount != nil && *cfg.Icount >= 0 {
		args = append(args, "-icount", fmt.Sprintf("shift=%d,sleep=on", *cfg.Icount))
	}
	runCtx, cancel := context.WithTimeout(ctx, cfg.Timeout)
	defer cancel()
	cmd := exec.CommandContext(runCtx, qemu, args...)
	cmd.WaitDelay = 5 * time.Second
	con := &consoleWatcher{mark: mark, start: time.Now(), live: cfg.Console}
	var stderr bytes.Buffer
	cmd.Stdout = con
	cmd.Stderr = &stderr
	qstart := time.Now()
	con.start = qstart
	runErr := cmd.Run()
	res.Total = time.Since(start)
	res.Console = con.String()
	con.mu.Lock()
	initAt, readyAt, exitAt, exitLine := con.initAt, con.readyAt, con.exitAt, con.exitLine
	con.mu.Unlock()
	if !initAt.IsZero() {
		res.Boot = initAt.Sub(qstart)
	}
	if !exitAt.IsZero() && !readyAt.IsZero() {
		res.Script = exitAt.Sub(readyAt)
	}
	if exitLine == "" {
		why := "guest ended without the exit marker (kernel panic or poweroff before /init finished?)"
		switch {
		case runCtx.Err() != nil && ctx.Err() == nil:
			why = fmt.Sprintf("guest timed out after %v", cfg.Timeout)
		case ctx.Err() != nil:
			why = fmt.Sprintf("canceled: %v", ctx.Err())
		case runErr != nil:
			why = fmt.Sprintf("qemu: %v: %s", runErr, strings.TrimSpace(stderr.String()))
		}
		return res, fmt.Errorf("run vm on %s: %s; console tail:\n%s", cfg.Kernel.Release, why, tail(res.Console, 40))
	}
	fields := map[string]string{}
	for _, kv := range strings.Fields(exitLine) {
		if k, v, ok := strings.Cut(kv, "="); ok {
			fields[k] = v
		}
	}
	res.Status, err = strconv.Atoi(fields["status"])
	if err != nil {
		return res, fmt.Errorf("run vm on %s: bad exit marker %q", cfg.Kernel.Release, exitLine)
	}
	if r := fields["reason"]; r != "" {
		return res, fmt.Errorf("run vm on %s: guest setup failed: %s; console tail:\n%s", cfg.Kernel.Release, r, tail(res.Console, 40))
	}
	if fields["tar"] != "0" {
		return res, fmt.Errorf("run vm on %s: guest could not write /out to the output disk (tar exit %s, disk %d MiB); console tail:\n%s",
			cfg.Kernel.Release, fields["tar"], cfg.OutSizeMiB, tail(res.Console, 20))
	}
	if err := extractTar(disk, res.OutDir); err != nil {
		return res, fmt.Errorf("run vm on %s: %w", cfg.Kernel.Release, err)
	}
	res.Total = time.Since(start)
	return res, nil
}

func makeSparse(p string, size int64) error {
	f, err := os.Create(p)
	if err != nil {
		return err
	}
	if err := f.Truncate(size); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// extractTar unpacks the tar stream at the start of the disk image into dir.
func extractTar(disk, dir string) error {
	f, err := os.Open(disk)
	if err != nil {
		return fmt.Errorf("extract guest output: %w", err)
	}
	defer f.Close()
	tr := tar.NewReader(f)
	for {
		h, err := tr.Next()
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return fmt.Errorf("extract guest output: %w", err)
		}
		name := filepath.Clean(strings.TrimPrefix(h.Name, "./"))
		if name == "." {
			continue
		}
		if !filepath.IsLocal(name) {
			return fmt.Errorf("extract guest output: unsafe path %q", h.Name)
		}
		dst := filepath.Join(dir, name)
		switch h.Typeflag {
		case tar.TypeDir:
			if err := os.MkdirAll(dst, 0o755); err != nil {
				return fmt.Errorf("extract guest output: %w", err)
			}
		case tar.TypeReg:
			if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
				return fmt.Errorf("extract guest output: %w", err)
			}
			out, err := os.OpenFile(dst, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o644)
			if err != nil {
				return fmt.Errorf("extract guest output: %w", err)
			}
			_, err = io.Copy(out, tr)
			if cerr := out.Close(); err == nil {
				err = cerr
			}
			if err != nil {
				return fmt.Errorf("extract guest output %s: %w", name, err)
			}
		case tar.TypeSymlink:
			if err := os.Symlink(h.Linkname, dst); err != nil {
				return fmt.Errorf("extract guest output: %w", err)
			}
		}
	}
}

// consoleWatcher collects the serial console and notes when the markers
// of the /init script appear.
type consoleWatcher struct {
	mark  string
	start time.Time
	live  io.Writer

	mu       sync.Mutex
	buf      bytes.Buffer
	line     []byte
	initAt   time.Time
	readyAt  time.Time
	exitAt   time.Time
	exitLine string
}

func (c *consoleWatcher) Write(p []byte) (int, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.buf.Write(p)
	if c.live != nil {
		c.live.Write(p)
	}
	for _, b := range p {
		if b != '\n' {
			c.line = append(c.line, b)
			continue
		}
		l := strings.TrimRight(string(c.line), "\r")
		c.line = c.line[:0]
		i := strings.Index(l, c.mark+"-")
		if i < 0 {
			continue
		}
		rest := l[i+len(c.mark)+1:]
		now := time.Now()
		switch {
		case strings.HasPrefix(rest, "INIT"):
			c.initAt = now
		case strings.HasPrefix(rest, "READY"):
			c.readyAt = now
		case strings.HasPrefix(rest, "EXIT "):
			c.exitAt = now
			c.exitLine = strings.TrimPrefix(rest, "EXIT ")
		}
	}
	return len(p), nil
}

func (c *consoleWatcher) String() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return strings.ReplaceAll(c.buf.String(), "\r\n", "\n")
}

// DefaultModules are the modules the end-to-end scenarios use: veth,
// tc ingress/clsact with cls_bpf and act_bpf, bridge, vxlan, geneve, dummy,
// nf_tables with reject and NAT, and the iptables filter table.
var DefaultModules = []string{
	"veth", "sch_ingress", "cls_bpf", "act_bpf", "bridge", "vxlan", "geneve", "dummy",
	"nf_tables", "nft_reject_inet", "nft_reject_ipv4", "nft_chain_nat", "nft_nat", "nft_masq", "nft_ct",
}
