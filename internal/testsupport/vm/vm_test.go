package vm

import (
	"archive/tar"
	"bytes"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

type cpioEntry struct {
	Name  string
	Mode  uint32
	Data  string
	Major uint32
	Minor uint32
}

// readCPIO is an independent newc reader for the tests.
func readCPIO(t *testing.T, b []byte) []cpioEntry {
	t.Helper()
	var out []cpioEntry
	off := 0
	field := func(i int) uint32 {
		v, err := strconv.ParseUint(string(b[off+6+8*i:off+6+8*i+8]), 16, 32)
		if err != nil {
			t.Fatalf("header field %d at %d: %v", i, off, err)
		}
		return uint32(v)
	}
	for {
		if off+110 > len(b) {
			t.Fatalf("archive ends without trailer at %d", off)
		}
		if string(b[off:off+6]) != "070701" {
			t.Fatalf("bad magic %q at %d", b[off:off+6], off)
		}
		mode, size, rmaj, rmin, nsz := field(1), field(6), field(9), field(10), field(11)
		name := string(b[off+110 : off+110+int(nsz)-1])
		if b[off+110+int(nsz)-1] != 0 {
			t.Fatalf("name %q not NUL-terminated", name)
		}
		p := off + 110 + int(nsz)
		p = (p + 3) &^ 3
		data := string(b[p : p+int(size)])
		off = (p + int(size) + 3) &^ 3
		if name == "TRAILER!!!" {
			if off != len(b) {
				t.Errorf("%d bytes after trailer", len(b)-off)
			}
			return out
		}
		out = append(out, cpioEntry{name, mode, data, rmaj, rmin})
	}
}

func TestCPIOWriter(t *testing.T) {
	var buf bytes.Buffer
	c := NewCPIOWriter(&buf)
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(c.Dir("/etc", 0o755))
	must(c.File("/usr/lib/x/lib.so", []byte("hello"), 0o755))
	must(c.Symlink("bin/sh", "/bin/busybox"))
	must(c.CharDev("dev/console", 0o600, 5, 1))
	must(c.File("etc/empty", nil, 0o644))
	must(c.Close())
	got := readCPIO(t, buf.Bytes())
	want := []cpioEntry{
		{Name: "etc", Mode: 0o40755},
		{Name: "usr", Mode: 0o40755},
		{Name: "usr/lib", Mode: 0o40755},
		{Name: "usr/lib/x", Mode: 0o40755},
		{Name: "usr/lib/x/lib.so", Mode: 0o100755, Data: "hello"},
		{Name: "bin", Mode: 0o40755},
		{Name: "bin/sh", Mode: 0o120777, Data: "/bin/busybox"},
		{Name: "dev", Mode: 0o40755},
		{Name: "dev/console", Mode: 0o20600, Major: 5, Minor: 1},
		{Name: "etc/empty", Mode: 0o100644},
	}
	if d := cmp.Diff(want, got); d != "" {
		t.Errorf("archive (-want +got):\n%s", d)
	}
	if err := c.File("late", nil, 0o644); err == nil {
		t.Error("File after Close succeeded")
	}
	if err := NewCPIOWriter(&buf).File("/", nil, 0o644); err == nil {
		t.Error("File with empty name succeeded")
	}
}

func TestParseLdd(t *testing.T) {
	out := "\tlinux-vdso.so.1 (0x00007ffd)\n" +
		"\tlibpcap.so.0.8 => /lib/x86_64-linux-gnu/libpcap.so.0.8 (0x00007f01)\n" +
		"\tlibc.so.6 => /lib/x86_64-linux-gnu/libc.so.6 (0x00007f02)\n" +
		"\t/lib64/ld-linux-x86-64.so.2 (0x00007f03)\n"
	got, err := parseLdd("x", []byte(out))
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"/lib/x86_64-linux-gnu/libpcap.so.0.8", "/lib/x86_64-linux-gnu/libc.so.6", "/lib64/ld-linux-x86-64.so.2"}
	if d := cmp.Diff(want, got); d != "" {
		t.Errorf("libraries (-want +got):\n%s", d)
	}
	if _, err := parseLdd("x", []byte("\tlibfoo.so.1 => not found\n")); err == nil || !strings.Contains(err.Error(), "libfoo") {
		t.Errorf("missing library: err = %v, want one naming libfoo", err)
	}
}

func TestModinfo(t *testing.T) {
	info := parseModinfoStrings([]byte("license=GPL\x00depends=nf_tables,nf-reject-ipv4\x00softdep=pre: crc32c post: foo\x00alias=a\x00alias=b\x00\x00name=nft_reject\x00"))
	if d := cmp.Diff([]string{"a", "b"}, info["alias"]); d != "" {
		t.Errorf("alias (-want +got):\n%s", d)
	}
	hard, pre := modDeps(info)
	if d := cmp.Diff([]string{"nf_tables", "nf_reject_ipv4"}, hard); d != "" {
		t.Errorf("depends (-want +got):\n%s", d)
	}
	if d := cmp.Diff([]string{"crc32c"}, pre); d != "" {
		t.Errorf("softdep pre (-want +got):\n%s", d)
	}
	hard, _ = modDeps(parseModinfoStrings([]byte("depends=\x00")))
	if len(hard) != 0 {
		t.Errorf("empty depends= gave %v", hard)
	}
	for in, want := range map[string]string{"a/b/nf-tables.ko.xz": "nf_tables", "veth.ko": "veth", "x-y.ko.zst": "x_y", "ip6_udp_tunnel": "ip6_udp_tunnel"} {
		if got := normModName(in); got != want {
			t.Errorf("normModName(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestConsoleWatcher(t *testing.T) {
	c := &consoleWatcher{mark: "M1"}
	for _, chunk := range []string{"boot\r\nM1-INIT uptime=1\r\n", "M1-READY x\nnoise M1-EX", "IT status=3 tar=0\r\n"} {
		c.Write([]byte(chunk))
	}
	if c.initAt.IsZero() || c.readyAt.IsZero() {
		t.Error("INIT/READY markers not noticed")
	}
	if c.exitLine != "status=3 tar=0" {
		t.Errorf("exit line %q", c.exitLine)
	}
	if !strings.HasPrefix(c.String(), "boot\nM1-INIT") {
		t.Errorf("console %q", c.String())
	}
	if got := tail("a\nb\nc\n", 2); got != "b\nc" {
		t.Errorf("tail = %q", got)
	}
}

func TestExtractTar(t *testing.T) {
	dir := t.TempDir()
	img := filepath.Join(dir, "disk")
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	tw.WriteHeader(&tar.Header{Name: "./", Typeflag: tar.TypeDir, Mode: 0o755})
	tw.WriteHeader(&tar.Header{Name: "./sub/", Typeflag: tar.TypeDir, Mode: 0o755})
	tw.WriteHeader(&tar.Header{Name: "./sub/f.pwru", Typeflag: tar.TypeReg, Mode: 0o644, Size: 3})
	tw.Write([]byte("abc"))
	tw.Close()
	// The rest of the disk is zeros, as on the sparse image.
	os.WriteFile(img, append(buf.Bytes(), make([]byte, 1<<16)...), 0o644)
	out := filepath.Join(dir, "out")
	if err := extractTar(img, out); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(filepath.Join(out, "sub", "f.pwru"))
	if err != nil || string(b) != "abc" {
		t.Errorf("extracted %q, %v", b, err)
	}

	buf.Reset()
	tw = tar.NewWriter(&buf)
	tw.WriteHeader(&tar.Header{Name: "../evil", Typeflag: tar.TypeReg, Mode: 0o644})
	tw.Close()
	os.WriteFile(img, buf.Bytes(), 0o644)
	if err := extractTar(img, out); err == nil {
		t.Error("path escaping the output directory was extracted")
	}
}
