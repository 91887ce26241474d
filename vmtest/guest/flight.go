//go:build linux

package main

import (
	"crypto/rand"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"github.com/pwru-record/pwru-record/format"
)

const (
	flightPort     = 5650 // steady traffic, delivered
	flightDropPort = 5651 // rare datagrams, dropped by nftables
	flightPcapPort = 5652 // one datagram, delivered, fires --trigger-pcap
	flightSport    = 40020
)

// The schedule of scenarioFlight, from the first datagram on.
const (
	flightDrop1   = 25 * time.Second // fires capture 1
	flightStorm1  = 26 * time.Second // during capture 1: no file
	flightStorm2  = 30 * time.Second // in its hold-off: no file
	flightPcapAt  = 55 * time.Second // fires capture 2 (--trigger-pcap)
	flightDrop2   = 85 * time.Second // fires capture 3
	flightEnd     = 110 * time.Second
	flightRSSTick = 3 * time.Second
	// flightSettle: the traffic goes on this long after the last
	// capture is complete (up to flightEndMax), so that the RSS samples
	// the test compares are taken after every capture was written, also
	// when a slow guest takes long to write one.
	flightSettle = 12 * time.Second
	flightEndMax = 150 * time.Second
)

// flightFreeFuncs: the freeing path of an skb on kernels that hand a
// received datagram's skb back to the per-CPU cache (skb_consume_udp,
// skb_attempt_defer_free, napi_skb_cache_put: 7.2) instead of
// kfree_skbmem. Without them a delivered skb's life has no end among the
// traced functions and runs into the next datagram's at its address.
const flightFreeFuncs = `|^(skb_consume_udp|skb_attempt_defer_free|skb_free_head|napi_skb_cache_put|kfree_skbmem)$`

// scenarioFlight: steady UDP traffic (two datagrams of 1 KiB random
// payload, stored whole, every 10 ms and whatever the guest's slowness
// adds) for 110 s, recorded by the flight
// recorder (window 10s, 2s after the trigger, 5s hold-off) with
// --trigger-drop any and --trigger-pcap on a port of its own. Datagrams
// dropped by nftables at 25 s (then at 26 s and 30 s: within the capture
// and its hold-off) and at 85 s, and one delivered to the trigger port
// at 55 s, make exactly three captures. The recorder's VmRSS is sampled
// every 3 s (values rss_kb_at_SSS).
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
	prx, err := newUDP(p.nsB, addrB, flightPcapPort)
	if err != nil {
		return err
	}
	defer prx.Close()
	e.step("topology")
	rec, err := e.startRecorder("flight", "--flight-recorder", "10s", "--trigger-drop", "any", "--trigger-after", "2s",
		"--trigger-holdoff", "5s", "--trigger-pcap", fmt.Sprintf("udp dst port %d", flightPcapPort),
		"--snaplen", "1500", "--filter-func", netFuncs+flightFreeFuncs, "udp and host "+addrB)
	if err != nil {
		return err
	}
	e.step("attach")
	pid := rec.cmd.Process.Pid
	glob := filepath.Join(e.dir, "flight-*.pwru")
	body := make([]byte, 1024)
	start := time.Now()
	var sent, bytesSent uint64
	type shot struct {
		at   time.Duration
		port uint16
		name string
	}
	shots := []shot{
		{flightDrop1, flightDropPort, "drop1"}, {flightStorm1, flightDropPort, "storm1"},
		{flightStorm2, flightDropPort, "storm2"}, {flightPcapAt, flightPcapPort, "pcap"},
		{flightDrop2, flightDropPort, "drop2"},
	}
	var fired []time.Time // when each shot that starts a capture was sent
	nextRSS := time.Duration(0)
	complete := map[string]bool{}
	var lastDone time.Duration // when the latest capture became complete
	for {
		el := time.Since(start)
		if el >= flightEnd {
			settled := len(complete) >= 3 && el >= lastDone+flightSettle
			if settled || el >= flightEndMax {
				break
			}
		}
		if el >= nextRSS {
			if kb, err := vmRSS(pid); err == nil {
				e.value(fmt.Sprintf("rss_kb_at_%03d", int(el.Seconds())), kb)
			}
			nextRSS += flightRSSTick
		}
		if len(shots) > 0 && el >= shots[0].at {
			s := shots[0]
			shots = shots[1:]
			if s.name == "drop1" {
				if m, _ := filepath.Glob(glob); len(m) != 0 {
					e.value("files_before_drop", uint64(len(m)))
				}
			}
			pkt, err := tx.send(addrB, s.port, payload("flight-"+s.name, 0, 64))
			if err != nil {
				return err
			}
			e.rep.Traffic = append(e.rep.Traffic, pkt)
			if s.name == "drop1" || s.name == "pcap" || s.name == "drop2" {
				fired = append(fired, time.Now())
			}
			e.logf("sent %s at %v", s.name, el.Round(time.Millisecond))
		}
		// Two datagrams a round: enough bytes through the window that a
		// leak of it shows in the RSS, also when the guest is slow.
		for range 2 {
			if _, err := rand.Read(body); err != nil {
				return err
			}
			if _, err := tx.send(addrB, flightPort, body); err != nil {
				return err
			}
			sent++
			bytesSent += uint64(len(body))
		}
		drainNow(rx)
		drainNow(prx)
		// Time from each trigger until its capture is complete.
		if sent%20 == 0 {
			m, _ := filepath.Glob(glob)
			for i, name := range m {
				if complete[name] || i >= len(fired) {
					continue
				}
				if f, err := format.Open(name, nil); err == nil {
					if f.Summary().Complete {
						complete[name] = true
						e.value(fmt.Sprintf("trigger_to_file_ms_%d", i+1), uint64(time.Since(fired[i]).Milliseconds()))
						lastDone = time.Since(start)
						e.value("last_complete_s", uint64(lastDone.Seconds()+0.999))
					}
					f.Close()
				}
			}
		}
		time.Sleep(10 * time.Millisecond)
	}
	e.value("sent", sent)
	e.value("sent_bytes", bytesSent)
	e.value("traffic_ms", uint64(time.Since(start).Milliseconds()))
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
	// Drop reasons as a trigger: refused at start where the kernel
	// reports none.
	e.runRecorder("flight-reasons", nil, "-o", filepath.Join(e.dir, "reasons.pwru"), "--flight-recorder", "10s",
		"--trigger-drop", "NETFILTER_DROP", "--duration", "1s", "--filter-func", "^ip_rcv$")
	return nil
}

// drainNow reads the datagrams waiting on u without blocking.
func drainNow(u *udpSocket) {
	buf := make([]byte, 2048)
	for {
		_, _, err := unix.Recvfrom(u.fd, buf, unix.MSG_DONTWAIT)
		if err != nil && !errors.Is(err, unix.EINTR) {
			return
		}
	}
}

// vmRSS reads VmRSS (kB) of pid from /proc/PID/status.
func vmRSS(pid int) (uint64, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, err
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			return strconv.ParseUint(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
		}
	}
	return 0, errors.New("no VmRSS in /proc status")
}
