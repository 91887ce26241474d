//go:build linux && cgo

package pcaporacle

/*
#cgo LDFLAGS: -lpcap
#include <stdlib.h>
#include <string.h>
#include <pcap/pcap.h>

static int oracle_compile(int linktype, const char *expr, int optimize, struct bpf_program *fp, char *errbuf, size_t errlen) {
	pcap_t *p = pcap_open_dead(linktype, 262144);
	if (p == NULL) {
		snprintf(errbuf, errlen, "pcap_open_dead failed");
		return -1;
	}
	int rc = pcap_compile(p, fp, expr, optimize, PCAP_NETMASK_UNKNOWN);
	if (rc != 0) {
		snprintf(errbuf, errlen, "%s", pcap_geterr(p));
	}
	pcap_close(p);
	return rc;
}

static int oracle_match(struct bpf_program *fp, const unsigned char *data, unsigned int caplen, unsigned int wirelen) {
	struct pcap_pkthdr h;
	memset(&h, 0, sizeof h);
	h.caplen = caplen;
	h.len = wirelen;
	return pcap_offline_filter(fp, &h, data);
}
*/
import "C"

import (
	"errors"
	"unsafe"
)

// Link types accepted by [Compile].
const (
	// LinkEthernet is DLT_EN10MB: packets start at the Ethernet header.
	LinkEthernet = int(C.DLT_EN10MB)
	// LinkRaw is DLT_RAW: packets start at the IPv4 or IPv6 header.
	LinkRaw = int(C.DLT_RAW)
)

// Program is a filter compiled by libpcap. It is not safe for concurrent
// use and must be released with [Program.Close].
type Program struct {
	fp C.struct_bpf_program
}

// Compile compiles expr for the given link type with libpcap, with the
// netmask unknown. The error text is libpcap's own.
func Compile(expr string, linktype int, optimize bool) (*Program, error) {
	cexpr := C.CString(expr)
	defer C.free(unsafe.Pointer(cexpr))
	var errbuf [512]C.char
	opt := C.int(0)
	if optimize {
		opt = 1
	}
	p := &Program{}
	if C.oracle_compile(C.int(linktype), cexpr, opt, &p.fp, &errbuf[0], C.size_t(len(errbuf))) != 0 {
		return nil, errors.New(C.GoString(&errbuf[0]))
	}
	return p, nil
}

// Match runs the program over data, whose original length on the wire was
// wirelen (at least len(data)), and reports whether libpcap accepts it.
func (p *Program) Match(data []byte, wirelen int) bool {
	if wirelen < len(data) {
		wirelen = len(data)
	}
	var ptr *C.uchar
	buf := C.CBytes(append([]byte{0}, data...))
	defer C.free(buf)
	ptr = (*C.uchar)(unsafe.Add(buf, 1))
	return C.oracle_match(&p.fp, ptr, C.uint(len(data)), C.uint(wirelen)) != 0
}

// Close releases the compiled program.
func (p *Program) Close() {
	C.pcap_freecode(&p.fp)
}
