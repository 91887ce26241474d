package procfs

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
)

// ChunkSize is the size of the chunks procfs text is read into. Text
// is split at line boundaries, so a chunk holds at most this many bytes.
const ChunkSize = 256 << 10

// Text is a text file read into chunks that each end with a complete
// line (the last one possibly without its newline).
type Text struct {
	chunks [][]byte
	size   int64
}

// ErrLineTooLong is returned for text with a line longer than a chunk.
var ErrLineTooLong = errors.New("line too long")

// ReadText reads r to the end into chunks of at most chunkSize bytes
// that each end at a line boundary.
func ReadText(r io.Reader, chunkSize int) (*Text, error) {
	t := &Text{}
	buf := make([]byte, 0, chunkSize)
	for {
		n, err := r.Read(buf[len(buf):cap(buf)])
		buf = buf[:len(buf)+n]
		t.size += int64(n)
		if len(buf) == cap(buf) {
			i := bytes.LastIndexByte(buf, '\n')
			if i < 0 {
				return nil, fmt.Errorf("%w (over %d bytes)", ErrLineTooLong, chunkSize)
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

// Lines calls fn with each line of t (without its newline) and its
// 1-based number, stopping at the first error.
func (t *Text) Lines(fn func(n int, line []byte) error) error {
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

// Field cuts the first space-separated field off s, skipping leading
// blanks (spaces and tabs).
func Field(s []byte) (f, rest []byte) {
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

// Size returns the number of bytes read.
func (t *Text) Size() int64 { return t.size }

// ReadFirst reads the first of paths that opens into a [Text]. When none
// opens it returns the most telling error: a refusal rather than a
// missing mount point.
func ReadFirst(paths ...string) (*Text, error) {
	var firstErr error
	for _, p := range paths {
		f, err := os.Open(p)
		if err != nil {
			if firstErr == nil || errors.Is(firstErr, fs.ErrNotExist) && !errors.Is(err, fs.ErrNotExist) {
				firstErr = err
			}
			continue
		}
		defer f.Close()
		text, err := ReadText(f, ChunkSize)
		if err != nil {
			return nil, fmt.Errorf("read %s: %w", p, err)
		}
		return text, nil
	}
	return nil, firstErr
}
