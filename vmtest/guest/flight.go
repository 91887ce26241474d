//go:build linux

package main

import (
	"fmt"
	"path/filepath"
	"syscall"
	"time"

	"github.com/pwru-record/pwru-record/format"
)

const (
	flightPort     = 5650 // steady traffic, delivered
	flightDropPort = 5651 // one datagram, dropped by nftables
	flightSport    = 40020
)

// scenarioFlight: steady UDP traffic for 40 s with one datagram dropped
// by nftables after 20 s, recorded by the flight recorder (window 10s,
// 2s after the trigger): no file before the drop, then exactly one.
func scenarioFlight(e *env) error {
	p, err := e.newPair("flight")
	if err != nil {
		return err
	}
	if err := nftDropUDP(p.nsB, flightDropPort); err != nil {
		return err
	}
	rx, tx, err := p.udpPair(flightPort, flightSport)
	if err != nil {
		return err
	}
	defer rx.Close()
	defer tx.Close()
	e.step("topology")
	rec, err := e.startRecorder("flight", "--flight-recorder", "10s", "--trigger-drop", "any", "--trigger-after", "2s",
		"--trigger-holdoff", "5s", "--filter-func", netFuncs, "udp and host "+addrB)
	if err != nil {
		return err
	}
	e.step("attach")
	glob := filepath.Join(e.dir, "flight-*.pwru")
	start := time.Now()
	n := 0
	send := func(until time.Duration) error {
		for time.Since(start) < until {
			if _, err := tx.send(addrB, flightPort, payload("flight", n, 64)); err != nil {
				return err
			}
			n++
			rx.drain()
			time.Sleep(20 * time.Millisecond)
		}
		return nil
	}
	if err := send(20 * time.Second); err != nil {
		return err
	}
	if m, _ := filepath.Glob(glob); len(m) != 0 {
		e.value("files_before_drop", uint64(len(m)))
	}
	pkt, err := tx.send(addrB, flightDropPort, payload("flight-drop", 0, 64))
	if err != nil {
		return err
	}
	e.rep.Traffic = append(e.rep.Traffic, pkt)
	dropAt := time.Now()
	e.step("drop")
	// Time until the capture is complete (trailer written), traffic going on.
	for time.Since(start) < 40*time.Second {
		if err := send(time.Since(start) + 200*time.Millisecond); err != nil {
			return err
		}
		if m, _ := filepath.Glob(glob); len(m) == 1 && e.rep.Values["trigger_to_file_ms"] == 0 {
			if f, err := format.Open(m[0], nil); err == nil {
				if f.Summary().Complete {
					e.value("trigger_to_file_ms", uint64(time.Since(dropAt).Milliseconds()))
				}
				f.Close()
			}
		}
	}
	e.value("sent", uint64(n))
	e.step("traffic")
	if err := rec.stop(syscall.SIGINT); err != nil {
		return err
	}
	e.step("stop")
	m, _ := filepath.Glob(glob)
	e.value("files", uint64(len(m)))
	if len(m) == 0 {
		return fmt.Errorf("no flight recorder capture after the drop")
	}
	return nil
}
