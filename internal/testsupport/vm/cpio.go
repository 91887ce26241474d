package vm

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"path"
	"strings"
)

// CPIOWriter writes a cpio archive in the "newc" (SVR4, no CRC) format the
// kernel unpacks as an initramfs. It creates parent directories implicitly
// when they were not written before. It is not safe for concurrent use.
type CPIOWriter struct {
	w      io.Writer
	ino    uint32
	dirs   map[string]bool
	closed bool
}

// NewCPIOWriter returns a writer that writes the archive to w.
func NewCPIOWriter(w io.Writer) *CPIOWriter {
	return &CPIOWriter{w: w, ino: 1, dirs: map[string]bool{"": true, ".": true}}
}

// cpio mode bits (the S_IF* values of the newc format).
const (
	cpioDir     = 0o040000
	cpioRegular = 0o100000
	cpioSymlink = 0o120000
	cpioCharDev = 0o020000
)

func cleanName(name string) (string, error) {
	n := strings.TrimPrefix(path.Clean("/"+name), "/")
	if n == "" {
		return "", fmt.Errorf("invalid archive path %q", name)
	}
	return n, nil
}

func (c *CPIOWriter) header(name string, mode uint32, size int, nlink uint32, rmajor, rminor uint32) error {
	if c.closed {
		return errors.New("write cpio entry: archive closed")
	}
	if size > 0xffffffff {
		return fmt.Errorf("write cpio entry %s: file too large (%d bytes)", name, size)
	}
	ino := c.ino
	c.ino++
	hdr := fmt.Sprintf("070701%08x%08x%08x%08x%08x%08x%08x%08x%08x%08x%08x%08x%08x",
		ino, mode, 0, 0, nlink, 0, size, 0, 0, rmajor, rminor, len(name)+1, 0)
	buf := make([]byte, 0, len(hdr)+len(name)+4)
	buf = append(buf, hdr...)
	buf = append(buf, name...)
	buf = append(buf, 0)
	buf = appendPad(buf, len(buf))
	if _, err := c.w.Write(buf); err != nil {
		return fmt.Errorf("write cpio header %s: %w", name, err)
	}
	return nil
}

func appendPad(b []byte, n int) []byte {
	for n%4 != 0 {
		b = append(b, 0)
		n++
	}
	return b
}

func (c *CPIOWriter) parents(name string) error {
	dir := path.Dir(name)
	if c.dirs[dir] {
		return nil
	}
	if err := c.parents(dir); err != nil {
		return err
	}
	c.dirs[dir] = true
	return c.header(dir, cpioDir|0o755, 0, 2, 0, 0)
}

// Dir adds a directory with the given permission bits.
func (c *CPIOWriter) Dir(name string, perm fs.FileMode) error {
	n, err := cleanName(name)
	if err != nil {
		return err
	}
	if c.dirs[n] {
		return nil
	}
	if err := c.parents(n); err != nil {
		return err
	}
	c.dirs[n] = true
	return c.header(n, cpioDir|uint32(perm.Perm()), 0, 2, 0, 0)
}

// File adds a regular file with the given content and permission bits.
func (c *CPIOWriter) File(name string, data []byte, perm fs.FileMode) error {
	n, err := cleanName(name)
	if err != nil {
		return err
	}
	if err := c.parents(n); err != nil {
		return err
	}
	if err := c.header(n, cpioRegular|uint32(perm.Perm()), len(data), 1, 0, 0); err != nil {
		return err
	}
	if _, err := c.w.Write(data); err != nil {
		return fmt.Errorf("write cpio data %s: %w", n, err)
	}
	if pad := (4 - len(data)%4) % 4; pad > 0 {
		if _, err := c.w.Write(make([]byte, pad)); err != nil {
			return fmt.Errorf("write cpio data %s: %w", n, err)
		}
	}
	return nil
}

// Symlink adds a symbolic link name pointing to target.
func (c *CPIOWriter) Symlink(name, target string) error {
	n, err := cleanName(name)
	if err != nil {
		return err
	}
	if err := c.parents(n); err != nil {
		return err
	}
	if err := c.header(n, cpioSymlink|0o777, len(target), 1, 0, 0); err != nil {
		return err
	}
	buf := appendPad([]byte(target), len(target))
	if _, err := c.w.Write(buf); err != nil {
		return fmt.Errorf("write cpio symlink %s: %w", n, err)
	}
	return nil
}

// CharDev adds a character device node.
func (c *CPIOWriter) CharDev(name string, perm fs.FileMode, major, minor uint32) error {
	n, err := cleanName(name)
	if err != nil {
		return err
	}
	if err := c.parents(n); err != nil {
		return err
	}
	return c.header(n, cpioCharDev|uint32(perm.Perm()), 0, 1, major, minor)
}

// Close writes the trailer entry. It does not close the underlying writer.
func (c *CPIOWriter) Close() error {
	if c.closed {
		return nil
	}
	if err := c.header("TRAILER!!!", 0, 0, 1, 0, 0); err != nil {
		return err
	}
	c.closed = true
	return nil
}
