//go:build linux

package main

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// The disk-full scenario records into a small tmpfs: big enough for the
// capture's metadata (BTF, kallsyms), then filled up to diskfullRoom free
// bytes once the recorder is ready.
const (
	diskfullMount = "/mnt/pwru-full"
	diskfullSize  = 64 << 20
	diskfullRoom  = 128 << 10
	diskfullPort  = 5630
	diskfullSport = 40018
	// diskfullFlood bounds the flood, which lasts until the recorder
	// exits: 10-20 s under TCG.
	diskfullFlood = 90 * time.Second
	// diskfullWait is how long the recorder may take to exit after the
	// flood ended (it flushes at least every second).
	diskfullWait = 10 * time.Second
)

// freeBytes is the space left on the file system holding path.
func freeBytes(path string) (int64, error) {
	var st unix.Statfs_t
	if err := unix.Statfs(path, &st); err != nil {
		return 0, fmt.Errorf("statfs %s: %w", path, err)
	}
	return int64(st.Bavail) * st.Bsize, nil
}

// scenarioDiskFull: the recorder writes into a file system that fills up
// during a UDP flood; it must stop by itself with a clear error and leave
// a capture the analyzer reads up to the last complete section.
func scenarioDiskFull(e *env) error {
	p, err := e.newPair("nospace")
	if err != nil {
		return err
	}
	rx, tx, err := p.udpPair(diskfullPort, diskfullSport)
	if err != nil {
		return err
	}
	defer rx.Close()
	defer tx.Close()
	if err := os.MkdirAll(diskfullMount, 0o755); err != nil {
		return err
	}
	if err := unix.Mount("tmpfs", diskfullMount, "tmpfs", 0, fmt.Sprintf("size=%d", diskfullSize)); err != nil {
		return fmt.Errorf("mount tmpfs on %s: %w", diskfullMount, err)
	}
	e.cleanup(func() { unix.Unmount(diskfullMount, unix.MNT_DETACH) })
	e.step("topology")

	path := filepath.Join(diskfullMount, "flood.pwru")
	rec, err := e.startRecorderAt("flood", path, "--output-skb", "--payload", "every",
		"--filter-func", netFuncs, fmt.Sprintf("udp and dst port %d", diskfullPort))
	if err != nil {
		return err
	}
	e.step("attach")
	if st, err := os.Stat(path); err == nil {
		e.value("capture_at_ready", uint64(st.Size()))
	}
	free, err := freeBytes(diskfullMount)
	if err != nil {
		return err
	}
	if free <= diskfullRoom {
		return fmt.Errorf("only %d bytes free on %s once the recorder was ready, want more than %d", free, diskfullMount, diskfullRoom)
	}
	filler, err := os.Create(filepath.Join(diskfullMount, "filler"))
	if err != nil {
		return err
	}
	err = unix.Fallocate(int(filler.Fd()), 0, 0, free-diskfullRoom)
	filler.Close()
	if err != nil {
		return fmt.Errorf("fill %s: %w", diskfullMount, err)
	}
	if free, err = freeBytes(diskfullMount); err != nil {
		return err
	}
	e.value("room", uint64(free))
	e.step("fill")

	n := 0
	start := time.Now()
flood:
	for time.Since(start) < diskfullFlood {
		select {
		case <-rec.done:
			break flood
		default:
		}
		if _, err := tx.send(addrB, diskfullPort, payload("diskfull", n, 512)); err != nil {
			return err
		}
		n++
	}
	e.value("flood_sent", uint64(n))
	e.value("flood_ms", uint64(time.Since(start).Milliseconds()))
	e.step("flood")
	select {
	case <-rec.done:
	case <-time.After(diskfullWait):
	}
	select {
	case <-rec.done:
		rec.finish()
		e.logf("recorder exited by itself %.1fs after the flood began: %s", time.Since(start).Seconds(), lastLines(rec.run.Stderr, 1))
	default:
		err := rec.stop(syscall.SIGINT)
		return errors.Join(fmt.Errorf("recorder still running %v after the file system filled up", time.Since(start).Truncate(time.Second)), err)
	}
	e.step("stop")
	b, err := os.ReadFile(path)
	if err != nil {
		return fmt.Errorf("read capture back: %w", err)
	}
	e.value("capture_bytes", uint64(len(b)))
	if free, err = freeBytes(diskfullMount); err == nil {
		e.value("free_after", uint64(free))
	}
	return os.WriteFile(filepath.Join(e.dir, "flood.pwru"), b, 0o644)
}
