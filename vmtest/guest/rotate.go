//go:build linux

package main

import (
	"fmt"
	"os"
	"path/filepath"
	"syscall"
	"time"
)

const (
	rotatePort  = 5640
	rotateSport = 40019
	// rotateFiles is how many files the flood must fill before the
	// recorder is stopped; rotateFlood bounds the flood.
	rotateFiles = 3
	rotateFlood = 90 * time.Second
)

// scenarioRotate: a UDP flood recorded with rotation into 256 KiB files:
// the recorder rotates through several files, each a complete capture.
func scenarioRotate(e *env) error {
	p, err := e.newPair("rotate")
	if err != nil {
		return err
	}
	rx, tx, err := p.udpPair(rotatePort, rotateSport)
	if err != nil {
		return err
	}
	defer rx.Close()
	defer tx.Close()
	e.step("topology")
	// The run's capture name is rotate.pwru; the files are
	// rotate-000001.pwru, ... beside it.
	// Files of 256 KiB beyond the snapshots (the hidden byte form of
	// --output-file-max-size), so a short flood fills several.
	rec, err := e.startRecorder("rotate", "--debug-rotate-bytes", "262144", "--output-file-max-backups", "0",
		"--payload", "every", "--filter-func", netFuncs, fmt.Sprintf("udp and dst port %d", rotatePort))
	if err != nil {
		return err
	}
	e.step("attach")
	n := 0
	start := time.Now()
	for time.Since(start) < rotateFlood {
		if n%256 == 0 {
			m, _ := filepath.Glob(filepath.Join(e.dir, "rotate-*.pwru"))
			if len(m) > rotateFiles {
				break
			}
		}
		if _, err := tx.send(addrB, rotatePort, payload("rotate", n, 512)); err != nil {
			return err
		}
		n++
	}
	e.value("flood_sent", uint64(n))
	e.value("flood_ms", uint64(time.Since(start).Milliseconds()))
	e.step("flood")
	if err := rec.stop(syscall.SIGINT); err != nil {
		return err
	}
	e.step("stop")
	m, _ := filepath.Glob(filepath.Join(e.dir, "rotate-*.pwru"))
	e.value("files", uint64(len(m)))
	for _, f := range m {
		if st, err := os.Stat(f); err == nil && st.Mode().Perm() != 0o600 {
			return fmt.Errorf("%s: mode %v, want 0600", f, st.Mode().Perm())
		}
	}
	return nil
}
