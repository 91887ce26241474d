// Package tracingmulti creates tracing multi-links: one fentry (or fexit)
// program attached to many kernel functions by one BPF_LINK_CREATE call
// (attach types BPF_TRACE_FENTRY_MULTI / BPF_TRACE_FEXIT_MULTI, link type
// BPF_LINK_TYPE_TRACING_MULTI). cilium/ebpf has no API for them yet; this
// package is the one place that issues the raw syscall, to be replaced
// once it does.
//
// Nothing here is keyed on kernel versions. [Probe] reads the attach type
// numbers and the layout of the link_create attributes from the running
// kernel's own BTF (enum bpf_attach_type and union bpf_attr), so the
// package follows whatever layout the kernel has and says so when it has
// none; whether the link works at all is then proven by creating one
// ([Layout.Attach] on a known function).
package tracingmulti

import (
	"encoding/binary"
	"errors"
	"fmt"
	"runtime"
	"unsafe"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/btf"
	"github.com/cilium/ebpf/link"
	"golang.org/x/sys/unix"
)

// ErrNotSupported: the kernel's BTF describes no tracing multi-link.
var ErrNotSupported = errors.New("tracing multi-link not supported by this kernel")

// bpfLinkCreate is the BPF_LINK_CREATE command of bpf(2).
const bpfLinkCreate = 28

// Layout is what the kernel's BTF says about the multi-link: the attach
// type numbers and where the link_create attributes go in union bpf_attr.
type Layout struct {
	// FentryMulti and FexitMulti are the attach types a program is loaded
	// with (ProgramSpec.AttachType) and linked with.
	FentryMulti ebpf.AttachType
	FexitMulti  ebpf.AttachType

	attrSize   int // sizeof(union bpf_attr)
	progFD     int // link_create.prog_fd
	attachType int // link_create.attach_type
	cnt        int // tracing_multi.cnt
	ids        int // tracing_multi.btf_ids: u64 pointer to u32 BTF type ids
	cookies    int // tracing_multi.cookies: u64 pointer to u64 cookies (-1: none)
	objFDs     int // tracing_multi.tgt_fds / btf_fds: u64 pointer to u32 BTF object fds (-1: none)
}

// Probe reads the multi-link's attach types and attribute layout from
// kernel, the running kernel's BTF. It returns ErrNotSupported when the
// kernel has no tracing multi-link.
func Probe(kernel *btf.Spec) (*Layout, error) {
	var at *btf.Enum
	if err := kernel.TypeByName("bpf_attach_type", &at); err != nil {
		return nil, fmt.Errorf("%w: enum bpf_attach_type: %w", ErrNotSupported, err)
	}
	l := &Layout{cookies: -1, objFDs: -1}
	found := 0
	for _, v := range at.Values {
		switch v.Name {
		case "BPF_TRACE_FENTRY_MULTI":
			l.FentryMulti = ebpf.AttachType(v.Value)
			found++
		case "BPF_TRACE_FEXIT_MULTI":
			l.FexitMulti = ebpf.AttachType(v.Value)
			found++
		}
	}
	if found != 2 {
		return nil, fmt.Errorf("%w: no BPF_TRACE_FENTRY_MULTI / BPF_TRACE_FEXIT_MULTI in enum bpf_attach_type", ErrNotSupported)
	}
	var attr *btf.Union
	if err := kernel.TypeByName("bpf_attr", &attr); err != nil {
		return nil, fmt.Errorf("%w: union bpf_attr: %w", ErrNotSupported, err)
	}
	l.attrSize = int(attr.Size)
	lc, lcOff, ok := member(attr.Members, "link_create")
	if !ok {
		return nil, fmt.Errorf("%w: union bpf_attr has no link_create", ErrNotSupported)
	}
	lcs, ok := btf.UnderlyingType(lc.Type).(*btf.Struct)
	if !ok {
		return nil, fmt.Errorf("%w: bpf_attr.link_create is not a struct", ErrNotSupported)
	}
	if _, l.progFD, ok = member(lcs.Members, "prog_fd"); !ok {
		return nil, fmt.Errorf("%w: link_create has no prog_fd", ErrNotSupported)
	}
	if _, l.attachType, ok = member(lcs.Members, "attach_type"); !ok {
		return nil, fmt.Errorf("%w: link_create has no attach_type", ErrNotSupported)
	}
	tm, tmOff, ok := member(lcs.Members, "tracing_multi")
	if !ok {
		return nil, fmt.Errorf("%w: link_create has no tracing_multi", ErrNotSupported)
	}
	tms, ok := btf.UnderlyingType(tm.Type).(*btf.Struct)
	if !ok {
		return nil, fmt.Errorf("%w: link_create.tracing_multi is not a struct", ErrNotSupported)
	}
	base := lcOff + tmOff
	l.progFD += lcOff
	l.attachType += lcOff
	l.cnt, l.ids = -1, -1
	for _, m := range tms.Members {
		off := base + int(m.Offset.Bytes())
		switch m.Name {
		case "cnt", "btf_ids_cnt":
			l.cnt = off
		case "btf_ids", "ids", "btf_type_ids":
			l.ids = off
		case "cookies":
			l.cookies = off
		case "tgt_fds", "btf_fds", "obj_fds":
			l.objFDs = off
		}
	}
	if l.cnt < 0 || l.ids < 0 {
		return nil, fmt.Errorf("%w: link_create.tracing_multi has no count or id array this package knows", ErrNotSupported)
	}
	return l, nil
}

// member finds the member called name in ms, looking into anonymous
// structs and unions; it returns the member and its byte offset from the
// start of ms's type.
func member(ms []btf.Member, name string) (btf.Member, int, bool) {
	for _, m := range ms {
		if m.Name == name {
			return m, int(m.Offset.Bytes()), true
		}
		if m.Name != "" {
			continue
		}
		var inner []btf.Member
		switch t := btf.UnderlyingType(m.Type).(type) {
		case *btf.Struct:
			inner = t.Members
		case *btf.Union:
			inner = t.Members
		}
		if found, off, ok := member(inner, name); ok {
			return found, int(m.Offset.Bytes()) + off, true
		}
	}
	return btf.Member{}, 0, false
}

// TakesModules says whether a multi-link of this layout can take module
// functions (it has the BTF object fds of [Target.Module]).
func (l *Layout) TakesModules() bool { return l.objFDs >= 0 }

// Target is one function of a multi-link: its BTF type id (a BTF_KIND_FUNC
// of vmlinux or of a module), the module's BTF object (nil for vmlinux)
// and the attach cookie the program reads with bpf_get_attach_cookie.
type Target struct {
	ID     btf.TypeID
	Module *btf.Handle
	Cookie uint64
}

// Attach creates one multi-link of prog (loaded with attach type
// attachType, l.FentryMulti or l.FexitMulti) to every target.
func (l *Layout) Attach(prog *ebpf.Program, attachType ebpf.AttachType, targets []Target) (link.Link, error) {
	if len(targets) == 0 {
		return nil, errors.New("create tracing multi-link: no targets")
	}
	ids := make([]uint32, len(targets))
	cookies := make([]uint64, len(targets))
	var fds []uint32
	for i, t := range targets {
		ids[i] = uint32(t.ID)
		cookies[i] = t.Cookie
		if t.Module != nil {
			if l.objFDs < 0 {
				return nil, errors.New("create tracing multi-link: this kernel's layout takes no module BTF")
			}
			if fds == nil {
				fds = make([]uint32, len(targets))
			}
			fds[i] = uint32(t.Module.FD())
		}
	}
	attr := make([]byte, l.attrSize)
	ne := binary.NativeEndian
	ne.PutUint32(attr[l.progFD:], uint32(prog.FD()))
	ne.PutUint32(attr[l.attachType:], uint32(attachType))
	ne.PutUint32(attr[l.cnt:], uint32(len(targets)))
	ne.PutUint64(attr[l.ids:], uint64(uintptr(unsafe.Pointer(&ids[0]))))
	if l.cookies >= 0 {
		ne.PutUint64(attr[l.cookies:], uint64(uintptr(unsafe.Pointer(&cookies[0]))))
	}
	if fds != nil {
		ne.PutUint64(attr[l.objFDs:], uint64(uintptr(unsafe.Pointer(&fds[0]))))
	}
	fd, _, errno := unix.Syscall(unix.SYS_BPF, bpfLinkCreate, uintptr(unsafe.Pointer(&attr[0])), uintptr(len(attr)))
	runtime.KeepAlive(ids)
	runtime.KeepAlive(cookies)
	runtime.KeepAlive(fds)
	runtime.KeepAlive(prog)
	runtime.KeepAlive(targets)
	if errno != 0 {
		return nil, fmt.Errorf("create tracing multi-link: %w", errno)
	}
	lk, err := link.NewFromFD(int(fd))
	if err != nil {
		return nil, fmt.Errorf("wrap tracing multi-link: %w", err)
	}
	return lk, nil
}
