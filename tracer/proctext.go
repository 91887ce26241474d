package tracer

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/pwru-record/pwru-record/format"
)

// The recorder reads two large procfs/tracefs files at startup,
// /proc/kallsyms and available_filter_functions. The kernel produces them
// a page per read(2) call, so on a big kernel that is thousands of calls
// and seconds of kernel time (tens of seconds under emulation). Each is
// read once, into whole-line chunks, and parsed in place: the parsers
// below allocate nothing per line.

// textChunkSize is the size of the chunks procfs text is read into. Text
// is split at line boundaries, so a chunk holds at most this many bytes.
const textChunkSize = 256 << 10

// lineText is a text file read into chunks that each end with a complete
// line (the last one possibly without its newline).
type lineText struct {
	chunks [][]byte
	size   int64
}

// errLineTooLong is returned for text with a line longer than a chunk.
var errLineTooLong = errors.New("line too long")

// readLineText reads r to the end into chunks of at most chunkSize bytes
// that each end at a line boundary.
func readLineText(r io.Reader, chunkSize int) (*lineText, error) {
	t := &lineText{}
	buf := make([]byte, 0, chunkSize)
	for {
		n, err := r.Read(buf[len(buf):cap(buf)])
		buf = buf[:len(buf)+n]
		t.size += int64(n)
		if len(buf) == cap(buf) {
			i := bytes.LastIndexByte(buf, '\n')
			if i < 0 {
				return nil, fmt.Errorf("%w (over %d bytes)", errLineTooLong, chunkSize)
			}
			next := make([]byte, 0, chunkSize)
			next = append(next, buf[i+1:]...)
			t.chunks = append(t.chunks, buf[:i+1])
			buf = next
		}
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, err
		}
	}
	if len(buf) > 0 {
		// The last chunk is trimmed to its length: it may be far smaller
		// than the others.
		t.chunks = append(t.chunks, append([]byte(nil), buf...))
	}
	return t, nil
}

// lines calls fn with each line of t (without its newline) and its
// 1-based number, stopping at the first error.
func (t *lineText) lines(fn func(n int, line []byte) error) error {
	n := 0
	for _, c := range t.chunks {
		for len(c) > 0 {
			line := c
			if i := bytes.IndexByte(c, '\n'); i >= 0 {
				line, c = c[:i], c[i+1:]
			} else {
				c = nil
			}
			n++
			if err := fn(n, line); err != nil {
				return err
			}
		}
	}
	return nil
}

// field cuts the first space-separated field off s, skipping leading
// blanks (spaces and tabs).
func field(s []byte) (f, rest []byte) {
	i := 0
	for i < len(s) && (s[i] == ' ' || s[i] == '\t') {
		i++
	}
	s = s[i:]
	i = 0
	for i < len(s) && s[i] != ' ' && s[i] != '\t' {
		i++
	}
	return s[:i], s[i:]
}

// kallsymsLine is one parsed /proc/kallsyms line (format's parser: the
// recorder and the reader parse kallsyms text with one function).
type kallsymsLine = format.KallsymsLine

// parseKallsymsLine parses "addr type name [module]"; see
// [format.ParseKallsymsLine].
func parseKallsymsLine(line []byte) (kallsymsLine, bool, error) {
	return format.ParseKallsymsLine(line)
}

// kallsymsText is /proc/kallsyms as read, checked by [checkKallsyms].
type kallsymsText struct {
	text  *lineText
	count int // symbols
}

// checkKallsyms parses every line of t once, without keeping anything,
// so that [kallsymsText.emit] cannot fail on the text. It reports
// [ErrKallsymsHidden] when no address is non-zero.
func checkKallsyms(t *lineText) (*kallsymsText, error) {
	k := &kallsymsText{text: t}
	nonzero := false
	err := t.lines(func(n int, line []byte) error {
		l, ok, err := parseKallsymsLine(line)
		if err != nil {
			return fmt.Errorf("parse kallsyms line %d: %w", n, err)
		}
		if ok {
			k.count++
			nonzero = nonzero || l.Addr != 0
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	if !nonzero {
		return nil, ErrKallsymsHidden
	}
	return k, nil
}

// emit hands the symbols to fn one chunk of text at a time; the slice is
// reused between calls. The symbols' strings share one allocation per
// chunk. Each name in addrs whose value is 0 gets the address of the
// first symbol with that name. The text is let go of chunk by chunk: k
// is empty afterwards.
func (k *kallsymsText) emit(addrs map[string]uint64, fn func([]format.Symbol) error) error {
	var syms []format.Symbol
	for i, c := range k.text.chunks {
		k.text.chunks[i] = nil
		// One string per chunk: names and modules are substrings of it.
		s := string(c)
		syms = syms[:0]
		for off := 0; off < len(s); {
			end := strings.IndexByte(s[off:], '\n')
			if end < 0 {
				end = len(s)
			} else {
				end += off
			}
			l, ok, _ := parseKallsymsLine(c[off:end])
			if ok {
				sym := format.Symbol{Addr: l.Addr, Type: l.Type, Name: sub(s, c, l.Name), Module: sub(s, c, l.Module)}
				if a, want := addrs[sym.Name]; want && a == 0 {
					addrs[sym.Name] = sym.Addr
				}
				syms = append(syms, sym)
			}
			off = end + 1
		}
		if len(syms) > 0 {
			if err := fn(syms); err != nil {
				return err
			}
		}
	}
	return nil
}

// sub returns the substring of s (a string copy of c) at the position of
// part, a sub-slice of c.
func sub(s string, c, part []byte) string {
	if len(part) == 0 {
		return ""
	}
	off := cap(c) - cap(part)
	return s[off : off+len(part)]
}

// scanAvailableFilterFunctions calls fn for each function of
// available_filter_functions text ("name" or "name [module]" per line;
// newer kernels may prefix a 16-digit address) with its name and module
// ("" = vmlinux) as sub-slices of the line. Invalid-address placeholders
// are skipped.
func scanAvailableFilterFunctions(t *lineText, fn func(name, module []byte)) {
	_ = t.lines(func(_ int, line []byte) error {
		name, rest := field(line)
		if len(name) == 0 {
			return nil
		}
		if len(name) == 16 && isLowerHex(name) {
			if n, r := field(rest); len(n) > 0 {
				name, rest = n, r
			}
		}
		next, _ := field(rest)
		if bytes.HasPrefix(name, []byte("__ftrace_invalid_address__")) {
			return nil
		}
		var mod []byte
		if len(next) >= 2 && next[0] == '[' && next[len(next)-1] == ']' {
			mod = next[1 : len(next)-1]
		}
		fn(name, mod)
		return nil
	})
}

func isLowerHex(b []byte) bool {
	for _, c := range b {
		if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f') {
			return false
		}
	}
	return true
}
