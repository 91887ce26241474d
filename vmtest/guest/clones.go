package main

import (
	"errors"
	"fmt"
	"syscall"

	"golang.org/x/sys/unix"
)

// clonesRuns are the recordings of the clones scenario: clone
// tracking by fexit (what the recorder picks on these kernels) and by the
// kprobe+kretprobe fallback, forced.
var clonesRuns = []struct {
	name string
	args []string
}{
	{"fexit", nil},
	{"kprobe", []string{"--debug-copy-tracking", "kprobe+kretprobe"}},
}

// scenarioClones: --filter-track-skb across clones and DNAT. A packet
// socket on veth-a makes the kernel clone every datagram A sends
// (dev_queue_xmit_nit); B rewrites port 7777 to 8888 as in the track
// scenario.
func scenarioClones(e *env) error {
	p, rx, err := e.dnatPair("clones")
	if err != nil {
		return err
	}
	defer rx.Close()
	allProto := int(htons(unix.ETH_P_ALL))
	tap, err := socketIn(p.nsA, unix.AF_PACKET, unix.SOCK_RAW, allProto)
	if err != nil {
		return fmt.Errorf("packet %w", err)
	}
	defer unix.Close(tap)
	if err := unix.Bind(tap, &unix.SockaddrLinklayer{Protocol: uint16(allProto), Ifindex: p.ifA}); err != nil {
		return fmt.Errorf("bind packet socket to veth-a: %w", err)
	}
	e.step("topology")
	for i, run := range clonesRuns {
		args := append(append([]string(nil), run.args...), "--filter-track-skb", "--filter-func", netFuncs, "udp and dst port 7777")
		rec, err := e.startRecorder(run.name, args...)
		if err != nil {
			return err
		}
		e.step(run.name + " attach")
		sent, err := udpTraffic(e, p, "clones-"+run.name, 40010+uint16(i), 7777, 3, 40)
		if err != nil {
			return err
		}
		markReceived(sent, rx.drain())
		// Reading the packet socket frees the clones (consume_skb) while
		// the recorder runs.
		if n, err := drainPacketSocket(tap); err != nil {
			return err
		} else if n < len(sent) {
			return fmt.Errorf("packet socket on veth-a read %d frames, want at least %d", n, len(sent))
		}
		for i := range sent {
			sent[i].Kind = "udp-" + run.name
		}
		e.rep.Traffic = append(e.rep.Traffic, sent...)
		e.step(run.name + " traffic")
		if err := rec.stop(syscall.SIGINT); err != nil {
			return err
		}
		e.step(run.name + " stop")
	}
	return nil
}

func htons(v uint16) uint16 { return v<<8 | v>>8 }

// drainPacketSocket reads the frames queued on fd without waiting and
// returns their number.
func drainPacketSocket(fd int) (int, error) {
	buf := make([]byte, 65536)
	n := 0
	for {
		_, _, err := unix.Recvfrom(fd, buf, unix.MSG_DONTWAIT)
		switch {
		case err == nil:
			n++
		case errors.Is(err, unix.EINTR):
		case errors.Is(err, unix.EAGAIN):
			return n, nil
		default:
			return n, fmt.Errorf("read packet socket: %w", err)
		}
	}
}
