//go:build linux && cgo

package pcap

/*
#cgo LDFLAGS: -lpcap
#include <stdlib.h>
#include <pcap/pcap.h>
*/
import "C"

import (
	"fmt"
	"strings"
	"unsafe"

	"golang.org/x/net/bpf"
)

// snaplen is the snapshot length the filters are compiled for. It bounds
// the constants libpcap returns for a match and matches tcpdump's default.
const snaplen = 262144

// compileCBPF compiles expr with libpcap for Ethernet frames (l3 false) or
// raw IPv4/IPv6 packets (l3 true).
func compileCBPF(expr string, l3 bool) ([]bpf.RawInstruction, error) {
	linktype := C.int(C.DLT_EN10MB)
	if l3 {
		linktype = C.int(C.DLT_RAW)
	}
	p := C.pcap_open_dead(linktype, snaplen)
	if p == nil {
		return nil, fmt.Errorf("compile pcap filter %q: pcap_open_dead failed", expr)
	}
	defer C.pcap_close(p)

	cexpr := C.CString(expr)
	defer C.free(unsafe.Pointer(cexpr))
	var prog C.struct_bpf_program
	if C.pcap_compile(p, &prog, cexpr, 1, C.PCAP_NETMASK_UNKNOWN) < 0 {
		msg := strings.Join(strings.Fields(C.GoString(C.pcap_geterr(p))), " ")
		return nil, fmt.Errorf("compile pcap filter %q: %s", expr, msg)
	}
	defer C.pcap_freecode(&prog)

	insns := unsafe.Slice(prog.bf_insns, int(prog.bf_len))
	raw := make([]bpf.RawInstruction, len(insns))
	for i, in := range insns {
		raw[i] = bpf.RawInstruction{Op: uint16(in.code), Jt: uint8(in.jt), Jf: uint8(in.jf), K: uint32(in.k)}
	}
	return raw, nil
}

// libpcapFilter runs raw over pkt with libpcap's own cBPF interpreter
// (bpf_filter) and returns its verdict: the number of bytes to keep, 0 for
// no match. It is the reference the tests compare the eBPF translation with.
func libpcapFilter(raw []bpf.RawInstruction, pkt []byte) uint32 {
	if len(raw) == 0 {
		return 0
	}
	insns := (*C.struct_bpf_insn)(C.malloc(C.size_t(len(raw)) * C.size_t(unsafe.Sizeof(C.struct_bpf_insn{}))))
	defer C.free(unsafe.Pointer(insns))
	cs := unsafe.Slice(insns, len(raw))
	for i, r := range raw {
		cs[i] = C.struct_bpf_insn{code: C.u_short(r.Op), jt: C.u_char(r.Jt), jf: C.u_char(r.Jf), k: C.bpf_u_int32(r.K)}
	}
	// bpf_filter takes a non-NULL buffer even for an empty packet.
	buf := (*C.u_char)(C.malloc(C.size_t(len(pkt) + 1)))
	defer C.free(unsafe.Pointer(buf))
	copy(unsafe.Slice((*byte)(unsafe.Pointer(buf)), len(pkt)), pkt)
	return uint32(C.bpf_filter(insns, buf, C.u_int(len(pkt)), C.u_int(len(pkt))))
}

// libpcapAvailable reports whether this build can compile pcap filters.
const libpcapAvailable = true
