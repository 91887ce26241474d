//go:build linux

package main

import (
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"runtime"
	"time"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"

	"github.com/pwru-record/pwru-record/vmtest/report"
)

// pair is two network namespaces joined by a veth pair:
// A (10.0.0.1/24, interface veth-a) <-> B (10.0.0.2/24, interface veth-b).
type pair struct {
	nsA, nsB     netns.NsHandle
	nameA, nameB string
	ifA, ifB     int // ifindexes
}

const (
	addrA = "10.0.0.1"
	addrB = "10.0.0.2"
)

// inNetns runs fn on a thread switched into ns.
func inNetns(ns netns.NsHandle, fn func() error) error {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	orig, err := netns.Get()
	if err != nil {
		return fmt.Errorf("get current netns: %w", err)
	}
	defer orig.Close()
	if err := netns.Set(ns); err != nil {
		return fmt.Errorf("enter netns: %w", err)
	}
	defer netns.Set(orig)
	return fn()
}

// newNamedNetns creates /run/netns/name without leaving the caller's netns.
func newNamedNetns(name string) (netns.NsHandle, error) {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	orig, err := netns.Get()
	if err != nil {
		return 0, fmt.Errorf("get current netns: %w", err)
	}
	defer orig.Close()
	netns.DeleteNamed(name)
	ns, err := netns.NewNamed(name)
	if err != nil {
		return 0, fmt.Errorf("create netns %s: %w", name, err)
	}
	if err := netns.Set(orig); err != nil {
		return 0, fmt.Errorf("return to netns: %w", err)
	}
	return ns, nil
}

func netnsInode(name string) (uint32, error) {
	var st unix.Stat_t
	if err := unix.Stat(filepath.Join("/run/netns", name), &st); err != nil {
		return 0, fmt.Errorf("stat netns %s: %w", name, err)
	}
	return uint32(st.Ino), nil
}

// newPair creates the two namespaces <prefix>-a and <prefix>-b and the veth
// pair between them, records them in the report and registers cleanups.
func (e *env) newPair(prefix string) (*pair, error) {
	p := &pair{nameA: prefix + "-a", nameB: prefix + "-b"}
	var err error
	if p.nsA, err = newNamedNetns(p.nameA); err != nil {
		return nil, err
	}
	e.cleanup(func() { p.nsA.Close(); netns.DeleteNamed(p.nameA) })
	if p.nsB, err = newNamedNetns(p.nameB); err != nil {
		return nil, err
	}
	e.cleanup(func() { p.nsB.Close(); netns.DeleteNamed(p.nameB) })

	// No IPv6: its neighbour discovery and router solicitations would add
	// packets nobody asked for to every capture.
	for _, ns := range []netns.NsHandle{p.nsA, p.nsB} {
		err := inNetns(ns, func() error {
			for _, k := range []string{"net/ipv6/conf/all/disable_ipv6", "net/ipv6/conf/default/disable_ipv6"} {
				if err := sysctl(k, "1"); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			return nil, err
		}
	}

	hA, err := netlink.NewHandleAt(p.nsA, unix.NETLINK_ROUTE)
	if err != nil {
		return nil, fmt.Errorf("netlink handle in %s: %w", p.nameA, err)
	}
	defer hA.Close()
	hB, err := netlink.NewHandleAt(p.nsB, unix.NETLINK_ROUTE)
	if err != nil {
		return nil, fmt.Errorf("netlink handle in %s: %w", p.nameB, err)
	}
	defer hB.Close()
	veth := &netlink.Veth{
		LinkAttrs:     netlink.LinkAttrs{Name: "veth-a", MTU: 1500},
		PeerName:      "veth-b",
		PeerNamespace: netlink.NsFd(p.nsB),
	}
	if err := hA.LinkAdd(veth); err != nil {
		return nil, fmt.Errorf("add veth pair: %w", err)
	}
	for _, side := range []struct {
		h    *netlink.Handle
		ns   string
		name string
		addr string
		idx  *int
	}{{hA, p.nameA, "veth-a", addrA, &p.ifA}, {hB, p.nameB, "veth-b", addrB, &p.ifB}} {
		for _, dev := range []string{"lo", side.name} {
			l, err := side.h.LinkByName(dev)
			if err != nil {
				return nil, fmt.Errorf("find %s in %s: %w", dev, side.ns, err)
			}
			if dev == side.name {
				a, _ := netlink.ParseAddr(side.addr + "/24")
				if err := side.h.AddrAdd(l, a); err != nil {
					return nil, fmt.Errorf("address %s on %s: %w", side.addr, dev, err)
				}
				*side.idx = l.Attrs().Index
			}
			if err := side.h.LinkSetUp(l); err != nil {
				return nil, fmt.Errorf("set %s up in %s: %w", dev, side.ns, err)
			}
		}
		ino, err := netnsInode(side.ns)
		if err != nil {
			return nil, err
		}
		e.rep.Netns[side.ns] = ino
		e.rep.Ifaces = append(e.rep.Ifaces, report.Iface{Netns: side.ns, Name: side.name, Ifindex: *side.idx, Addr: side.addr})
	}
	// Resolve the neighbours now so that the traffic under test is not
	// interleaved with ARP and the first packet is not held in a queue.
	if err := setNeigh(hA, p.ifA, addrB, hB, p.ifB); err != nil {
		return nil, err
	}
	if err := setNeigh(hB, p.ifB, addrA, hA, p.ifA); err != nil {
		return nil, err
	}
	return p, nil
}

// setNeigh adds a permanent neighbour entry on (h, idx) for ip with the
// MAC address of the peer interface (peerH, peerIdx).
func setNeigh(h *netlink.Handle, idx int, ip string, peerH *netlink.Handle, peerIdx int) error {
	peer, err := peerH.LinkByIndex(peerIdx)
	if err != nil {
		return fmt.Errorf("find peer interface %d: %w", peerIdx, err)
	}
	n := &netlink.Neigh{LinkIndex: idx, State: netlink.NUD_PERMANENT, IP: net.ParseIP(ip), HardwareAddr: peer.Attrs().HardwareAddr, Family: unix.AF_INET}
	if err := h.NeighSet(n); err != nil {
		return fmt.Errorf("set neighbour %s: %w", ip, err)
	}
	return nil
}

// socketIn creates a socket in ns.
func socketIn(ns netns.NsHandle, domain, typ, proto int) (int, error) {
	var fd int
	err := inNetns(ns, func() error {
		var err error
		fd, err = unix.Socket(domain, typ|unix.SOCK_CLOEXEC, proto)
		return err
	})
	if err != nil {
		return -1, fmt.Errorf("socket: %w", err)
	}
	return fd, nil
}

func ip4(s string) [4]byte {
	var a [4]byte
	copy(a[:], net.ParseIP(s).To4())
	return a
}

func checksum(b []byte) uint16 {
	var sum uint32
	for i := 0; i+1 < len(b); i += 2 {
		sum += uint32(b[i])<<8 | uint32(b[i+1])
	}
	if len(b)%2 == 1 {
		sum += uint32(b[len(b)-1]) << 8
	}
	for sum > 0xffff {
		sum = sum>>16 + sum&0xffff
	}
	return ^uint16(sum)
}

// pinger sends ICMP echo requests from a namespace over a raw socket.
type pinger struct {
	fd  int
	src string
}

func newPinger(ns netns.NsHandle, src string) (*pinger, error) {
	fd, err := socketIn(ns, unix.AF_INET, unix.SOCK_RAW, unix.IPPROTO_ICMP)
	if err != nil {
		return nil, fmt.Errorf("icmp %w", err)
	}
	tv := unix.NsecToTimeval(int64(2 * time.Second))
	unix.SetsockoptTimeval(fd, unix.SOL_SOCKET, unix.SO_RCVTIMEO, &tv)
	return &pinger{fd: fd, src: src}, nil
}

func (p *pinger) Close() { unix.Close(p.fd) }

// echo sends one echo request and waits for its reply.
func (p *pinger) echo(dst string, id, seq uint16, payload []byte) (report.Packet, error) {
	msg := make([]byte, 8+len(payload))
	msg[0] = 8 // echo request
	binary.BigEndian.PutUint16(msg[4:], id)
	binary.BigEndian.PutUint16(msg[6:], seq)
	copy(msg[8:], payload)
	binary.BigEndian.PutUint16(msg[2:], checksum(msg))
	pkt := report.Packet{Kind: "icmp-echo", Src: p.src, Dst: dst, Proto: unix.IPPROTO_ICMP, ID: id, Seq: seq, L4: msg, Payload: payload}
	if err := unix.Sendto(p.fd, msg, 0, &unix.SockaddrInet4{Addr: ip4(dst)}); err != nil {
		return pkt, fmt.Errorf("send echo request to %s: %w", dst, err)
	}
	buf := make([]byte, 2048)
	deadline := time.Now().Add(2 * time.Second)
	for time.Now().Before(deadline) {
		n, _, err := unix.Recvfrom(p.fd, buf, 0)
		if err != nil {
			if errors.Is(err, unix.EAGAIN) || errors.Is(err, unix.EINTR) {
				continue
			}
			return pkt, fmt.Errorf("receive echo reply: %w", err)
		}
		if n < 28 {
			continue
		}
		ihl := int(buf[0]&0xf) * 4
		r := buf[ihl:n]
		if len(r) >= 8 && r[0] == 0 && binary.BigEndian.Uint16(r[4:]) == id && binary.BigEndian.Uint16(r[6:]) == seq {
			pkt.Answered = true
			return pkt, nil
		}
	}
	return pkt, nil
}

// udpSocket is a UDP socket bound in a namespace.
type udpSocket struct {
	fd   int
	addr string
	port uint16
}

// udpPair opens a UDP socket bound to B's address and bPort, then one
// bound to A's address and aPort; the caller closes both.
func (p *pair) udpPair(bPort, aPort uint16) (b, a *udpSocket, err error) {
	if b, err = newUDP(p.nsB, addrB, bPort); err != nil {
		return nil, nil, err
	}
	if a, err = newUDP(p.nsA, addrA, aPort); err != nil {
		b.Close()
		return nil, nil, err
	}
	return b, a, nil
}

func newUDP(ns netns.NsHandle, addr string, port uint16) (*udpSocket, error) {
	fd, err := socketIn(ns, unix.AF_INET, unix.SOCK_DGRAM, 0)
	if err != nil {
		return nil, fmt.Errorf("udp %w", err)
	}
	if err := unix.Bind(fd, &unix.SockaddrInet4{Addr: ip4(addr), Port: int(port)}); err != nil {
		unix.Close(fd)
		return nil, fmt.Errorf("bind udp %s:%d: %w", addr, port, err)
	}
	tv := unix.NsecToTimeval(int64(200 * time.Millisecond))
	unix.SetsockoptTimeval(fd, unix.SOL_SOCKET, unix.SO_RCVTIMEO, &tv)
	unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_RCVBUF, 4<<20)
	return &udpSocket{fd: fd, addr: addr, port: port}, nil
}

func (u *udpSocket) Close() { unix.Close(u.fd) }

// send sends payload to dst:dport and describes the datagram.
func (u *udpSocket) send(dst string, dport uint16, payload []byte) (report.Packet, error) {
	hdr := make([]byte, 8)
	binary.BigEndian.PutUint16(hdr[0:], u.port)
	binary.BigEndian.PutUint16(hdr[2:], dport)
	binary.BigEndian.PutUint16(hdr[4:], uint16(8+len(payload)))
	pkt := report.Packet{Kind: "udp", Src: u.addr, Dst: dst, Proto: unix.IPPROTO_UDP, Sport: u.port, Dport: dport,
		L4: append(hdr, payload...), Payload: payload}
	if err := unix.Sendto(u.fd, payload, 0, &unix.SockaddrInet4{Addr: ip4(dst), Port: int(dport)}); err != nil {
		return pkt, fmt.Errorf("send udp to %s:%d: %w", dst, dport, err)
	}
	return pkt, nil
}

// drain reads datagrams until none arrives for the receive timeout and
// returns their payloads.
func (u *udpSocket) drain() [][]byte {
	var got [][]byte
	buf := make([]byte, 65536)
	for {
		n, _, err := unix.Recvfrom(u.fd, buf, 0)
		if err != nil {
			if errors.Is(err, unix.EINTR) {
				continue
			}
			return got
		}
		got = append(got, append([]byte(nil), buf[:n]...))
	}
}

// markReceived sets Answered on the packets whose payloads were received.
func markReceived(pkts []report.Packet, got [][]byte) {
	seen := map[string]int{}
	for _, g := range got {
		seen[string(g)]++
	}
	for i := range pkts {
		if seen[string(pkts[i].Payload)] > 0 {
			seen[string(pkts[i].Payload)]--
			pkts[i].Answered = true
		}
	}
}

// sysctl writes a value under /proc/sys.
func sysctl(name, value string) error {
	p := filepath.Join("/proc/sys", filepath.FromSlash(name))
	if err := os.WriteFile(p, []byte(value), 0o644); err != nil {
		return fmt.Errorf("sysctl %s: %w", name, err)
	}
	return nil
}
