package main

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/pwru-record/pwru-record/analyze"
	"github.com/pwru-record/pwru-record/format"
)

// expandSet expands a FILE argument that is a glob pattern (the files of
// a rotated recording, e.g. 'cap-*.pwru'), sorted by name; any other
// argument is itself.
func expandSet(path string) ([]string, error) {
	if !strings.ContainsAny(path, "*?[") {
		return []string{path}, nil
	}
	m, err := filepath.Glob(path)
	if err != nil {
		return nil, fmt.Errorf("expand %s: %w", path, err)
	}
	if len(m) == 0 {
		return nil, fmt.Errorf("expand %s: no file matches", path)
	}
	slices.Sort(m)
	return m, nil
}

// mergeToTemp merges the captures at paths into an unlinked temporary
// file and returns it opened, named pattern for messages.
func mergeToTemp(stderr io.Writer, pattern string, paths []string, opts *format.ReaderOptions) (*analyze.Capture, error) {
	var files []*format.File
	defer func() {
		for _, f := range files {
			f.Close()
		}
	}()
	for _, p := range paths {
		f, err := format.Open(p, opts)
		if err != nil {
			var pe *os.PathError
			if errors.As(err, &pe) {
				err = pe.Err
			}
			return nil, fmt.Errorf("open %s: %w", p, err)
		}
		files = append(files, f)
		if s := f.Summary(); s.Truncated {
			fmt.Fprintf(stderr, "pwru-replay: warning: %s is truncated at offset %d; reading what was written\n", p, s.TruncatedAt)
		}
	}
	tmp, err := os.CreateTemp("", "pwru-replay-set-*.pwru")
	if err != nil {
		return nil, fmt.Errorf("merge %s: %w", pattern, err)
	}
	name := tmp.Name()
	defer os.Remove(name) // the opened capture keeps the data
	if _, err := analyze.MergeSet(tmp, files); err != nil {
		tmp.Close()
		return nil, fmt.Errorf("read %s as one capture: %w", pattern, err)
	}
	if err := tmp.Close(); err != nil {
		return nil, fmt.Errorf("merge %s: %w", pattern, err)
	}
	capt, err := analyze.OpenWith(name, opts)
	if err != nil {
		return nil, fmt.Errorf("open %s merged: %w", pattern, err)
	}
	capt.Path = pattern
	fmt.Fprintf(stderr, "pwru-replay: reading %d files as one capture: %s ... %s\n", len(paths), filepath.Base(paths[0]), filepath.Base(paths[len(paths)-1]))
	return capt, nil
}
