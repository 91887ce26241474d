package vm

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"debug/elf"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path"
	"sort"
	"strings"
)

// Initramfs describes the content of a generated initramfs.
type Initramfs struct {
	// Files maps guest paths to host paths. Dynamically linked ELF files
	// bring the shared libraries ldd lists and the program loader, at the
	// paths ldd reports.
	Files map[string]string
	// Data maps guest paths to file contents (mode 0755).
	Data map[string][]byte
	// Modules are written to /lib/modules/<name>.ko and their names, in
	// order, to /etc/vm-modules for /init to insmod.
	Modules []Module
	// Init is the /init script.
	Init string
	// Busybox is the host path of a statically linked busybox ("" = look
	// it up in PATH). Every applet gets a symlink.
	Busybox string
	// Gzip compresses the archive (gzip -1). The kernel unpacks both.
	Gzip bool
}

// BuildInitramfs writes the initramfs to w.
func BuildInitramfs(w io.Writer, ir *Initramfs) error {
	bb := ir.Busybox
	if bb == "" {
		var err error
		if bb, err = exec.LookPath("busybox"); err != nil {
			return fmt.Errorf("build initramfs: busybox not found (install busybox-static): %w", err)
		}
	}
	if dyn, err := isDynamicELF(bb); err != nil {
		return fmt.Errorf("build initramfs: %w", err)
	} else if dyn {
		return fmt.Errorf("build initramfs: %s is dynamically linked (install busybox-static)", bb)
	}
	applets, err := exec.Command(bb, "--list-full").Output()
	if err != nil {
		return fmt.Errorf("build initramfs: %s --list-full: %w", bb, err)
	}

	// Collect every regular file first: guest path -> host path or data.
	files := map[string]string{"/bin/busybox": bb}
	for g, h := range ir.Files {
		files[path.Clean("/"+g)] = h
		libs, err := sharedLibs(h)
		if err != nil {
			return fmt.Errorf("build initramfs: %w", err)
		}
		for _, l := range libs {
			files[l] = l
		}
	}

	var out io.Writer = w
	var zw *gzip.Writer
	if ir.Gzip {
		zw, _ = gzip.NewWriterLevel(w, gzip.BestSpeed)
		out = zw
	}
	bw := bufio.NewWriterSize(out, 1<<20)
	c := NewCPIOWriter(bw)
	for _, d := range []string{"bin", "sbin", "usr/bin", "usr/sbin", "proc", "sys", "dev", "tmp", "run", "out", "etc", "root", "mnt", "lib/modules", "var/run"} {
		if err := c.Dir(d, 0o755); err != nil {
			return err
		}
	}
	if err := c.CharDev("dev/console", 0o600, 5, 1); err != nil {
		return err
	}
	if err := c.CharDev("dev/null", 0o666, 1, 3); err != nil {
		return err
	}
	guests := make([]string, 0, len(files))
	for g := range files {
		guests = append(guests, g)
	}
	sort.Strings(guests)
	for _, g := range guests {
		data, err := os.ReadFile(files[g])
		if err != nil {
			return fmt.Errorf("build initramfs: %w", err)
		}
		if err := c.File(g, data, 0o755); err != nil {
			return err
		}
	}
	// A shipped program shadows the busybox applet of the same name
	// wherever the applet would live in PATH.
	shipped := map[string]bool{}
	for g := range ir.Files {
		shipped[path.Base(g)] = true
	}
	for _, a := range strings.Fields(string(applets)) {
		a = path.Clean("/" + a)
		if _, taken := files[a]; taken || a == "/bin/busybox" || shipped[path.Base(a)] {
			continue
		}
		if err := c.Symlink(a, "/bin/busybox"); err != nil {
			return err
		}
	}
	dataNames := make([]string, 0, len(ir.Data))
	for g := range ir.Data {
		dataNames = append(dataNames, g)
	}
	sort.Strings(dataNames)
	for _, g := range dataNames {
		if err := c.File(g, ir.Data[g], 0o755); err != nil {
			return err
		}
	}
	var order bytes.Buffer
	for _, m := range ir.Modules {
		if err := c.File("lib/modules/"+m.Name+".ko", m.Data, 0o644); err != nil {
			return err
		}
		fmt.Fprintln(&order, m.Name)
	}
	if err := c.File("etc/vm-modules", order.Bytes(), 0o644); err != nil {
		return err
	}
	if err := c.File("init", []byte(ir.Init), 0o755); err != nil {
		return err
	}
	if err := c.Close(); err != nil {
		return err
	}
	if err := bw.Flush(); err != nil {
		return fmt.Errorf("build initramfs: %w", err)
	}
	if zw != nil {
		if err := zw.Close(); err != nil {
			return fmt.Errorf("build initramfs: %w", err)
		}
	}
	return nil
}

// isDynamicELF reports whether p is an ELF file with a program interpreter.
// Files that are not ELF (scripts, data) report false.
func isDynamicELF(p string) (bool, error) {
	f, err := elf.Open(p)
	if err != nil {
		if _, ok := err.(*elf.FormatError); ok {
			return false, nil
		}
		return false, fmt.Errorf("inspect %s: %w", p, err)
	}
	defer f.Close()
	for _, prog := range f.Progs {
		if prog.Type == elf.PT_INTERP {
			return true, nil
		}
	}
	return false, nil
}

// sharedLibs returns the absolute paths of the libraries and the loader a
// dynamically linked ELF file needs, as ldd reports them. It returns nil
// for static binaries and non-ELF files.
func sharedLibs(p string) ([]string, error) {
	dyn, err := isDynamicELF(p)
	if err != nil || !dyn {
		return nil, err
	}
	out, err := exec.Command("ldd", p).CombinedOutput()
	if err != nil {
		return nil, fmt.Errorf("list libraries of %s: ldd: %w: %s", p, err, strings.TrimSpace(string(out)))
	}
	return parseLdd(p, out)
}

func parseLdd(p string, out []byte) ([]string, error) {
	var libs []string
	sc := bufio.NewScanner(bytes.NewReader(out))
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" {
			continue
		}
		if strings.Contains(line, "not found") {
			return nil, fmt.Errorf("list libraries of %s: %s", p, line)
		}
		if _, rhs, ok := strings.Cut(line, "=>"); ok {
			line = strings.TrimSpace(rhs)
		}
		f := strings.Fields(line)
		if len(f) > 0 && strings.HasPrefix(f[0], "/") {
			libs = append(libs, f[0])
		}
	}
	return libs, nil
}
