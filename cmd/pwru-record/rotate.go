package main

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
)

// fileSet is the set of files of a rotated capture: STEM-000001.pwru,
// STEM-000002.pwru, ... (STEM is --output without ".pwru"), so that the
// names sort in time order. Each file is created new (O_EXCL) with the
// mode, group and owner of the options (default 0600: a capture holds
// packet bytes) and synced and closed before the
// next one starts; beyond backups old files the oldest is removed
// (backups 0 keeps every file).
type fileSet struct {
	opts    outputOptions // mode, group and owner of every file
	stem    string
	backups int
	seq     int
	cur     *os.File
	done    []string // completed files, oldest first, still on disk
}

// rotatedName is the name of file seq of the set of --output path.
func rotatedName(path string, seq int) string {
	return fmt.Sprintf("%s-%06d.pwru", strings.TrimSuffix(path, ".pwru"), seq)
}

func newFileSet(path string, backups int, o outputOptions) (*fileSet, error) {
	s := &fileSet{stem: path, backups: backups, opts: o}
	if _, err := s.next(); err != nil {
		return nil, err
	}
	return s, nil
}

// next completes the current file and creates the next one.
func (s *fileSet) next() (io.Writer, error) {
	if s.cur != nil {
		if err := s.finish(); err != nil {
			return nil, err
		}
		if err := s.prune(); err != nil {
			return nil, err
		}
	}
	s.seq++
	name := rotatedName(s.stem, s.seq)
	f, err := createSetFile(name, s.opts)
	if err != nil {
		return nil, err
	}
	s.cur = f
	return f, nil
}

// finish syncs and closes the current file.
func (s *fileSet) finish() error {
	f := s.cur
	s.cur = nil
	err := f.Sync()
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("complete capture %s: %w", f.Name(), err)
	}
	s.done = append(s.done, f.Name())
	return nil
}

// prune removes the oldest completed files beyond backups.
func (s *fileSet) prune() error {
	for s.backups > 0 && len(s.done) > s.backups {
		if err := os.Remove(s.done[0]); err != nil && !errors.Is(err, os.ErrNotExist) {
			return fmt.Errorf("remove old capture: %w", err)
		}
		s.done = s.done[1:]
	}
	return nil
}

// Close completes the last file.
func (s *fileSet) Close() error {
	if s.cur == nil {
		return nil
	}
	return s.finish()
}

// pattern is a glob that matches the files of the set.
func (s *fileSet) pattern() string {
	return filepath.Clean(strings.TrimSuffix(s.stem, ".pwru")) + "-*.pwru"
}
