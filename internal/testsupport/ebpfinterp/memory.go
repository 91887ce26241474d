package ebpfinterp

import (
	"encoding/binary"
	"fmt"

	"github.com/cilium/ebpf/asm"
)

// This file holds the fake kernel memory and the machine's loads,
// stores and bpf_probe_read_kernel over it and the stack.

// Memory is a sparse image of kernel memory: a set of non-overlapping
// regions, each a byte slice at a base address. bpf_probe_read_kernel reads
// from it. The zero value is an empty image. A Memory is not safe for
// concurrent modification; concurrent runs that only read it are fine.
type Memory struct {
	regions []region
}

type region struct {
	addr uint64
	data []byte
}

// Map adds data at addr. The slice is used in place, not copied. Map
// returns an error if the region overlaps one already mapped or wraps around
// the address space.
func (m *Memory) Map(addr uint64, data []byte) error {
	end := addr + uint64(len(data))
	if end < addr {
		return fmt.Errorf("map region at %#x: wraps around the address space", addr)
	}
	for _, r := range m.regions {
		if addr < r.addr+uint64(len(r.data)) && r.addr < end {
			return fmt.Errorf("map region at %#x: overlaps region at %#x", addr, r.addr)
		}
	}
	m.regions = append(m.regions, region{addr, data})
	return nil
}

// Read returns the n bytes at addr, or false if any of them is unmapped.
// Ranges spanning adjacent regions are not supported.
func (m *Memory) Read(addr uint64, n int) ([]byte, bool) {
	if m == nil {
		return nil, false
	}
	for _, r := range m.regions {
		if addr >= r.addr && addr-r.addr <= uint64(len(r.data)) && uint64(n) <= uint64(len(r.data))-(addr-r.addr) {
			off := addr - r.addr
			return r.data[off : off+uint64(n)], true
		}
	}
	return nil, false
}

// stackIndex maps [addr, addr+n) to an index into the stack, or fails.
func (m *machine) stackIndex(addr uint64, n int) (int, error) {
	lo := StackTop - StackSize
	if addr < lo || addr > StackTop || uint64(n) > StackTop-addr {
		return 0, fmt.Errorf("%d bytes at %#x outside the stack: %w", n, addr, ErrFault)
	}
	i := int(addr - lo)
	if d := StackSize - i; d > m.res.MaxStackDepth {
		m.res.MaxStackDepth = d
	}
	return i, nil
}

func sizeBytes(s asm.Size) int {
	switch s {
	case asm.Byte:
		return 1
	case asm.Half:
		return 2
	case asm.Word:
		return 4
	case asm.DWord:
		return 8
	}
	return 0
}

func (m *machine) load(addr uint64, size asm.Size) (uint64, error) {
	n := sizeBytes(size)
	if n == 0 {
		return 0, fmt.Errorf("load size %v: %w", size, ErrUnsupported)
	}
	i, err := m.stackIndex(addr, n)
	if err != nil {
		return 0, err
	}
	for j := i; j < i+n; j++ {
		if !m.init[j] {
			return 0, fmt.Errorf("read of uninitialised stack at r10%d: %w", int(addr-StackTop), ErrFault)
		}
	}
	var buf [8]byte
	copy(buf[:], m.stack[i:i+n])
	return binary.LittleEndian.Uint64(buf[:]), nil
}

func (m *machine) store(addr uint64, size asm.Size, v uint64) error {
	n := sizeBytes(size)
	if n == 0 {
		return fmt.Errorf("store size %v: %w", size, ErrUnsupported)
	}
	i, err := m.stackIndex(addr, n)
	if err != nil {
		return err
	}
	var buf [8]byte
	binary.LittleEndian.PutUint64(buf[:], v)
	copy(m.stack[i:i+n], buf[:n])
	for j := i; j < i+n; j++ {
		m.init[j] = true
	}
	return nil
}

// probeReadKernel implements bpf_probe_read_kernel(dst, size, unsafe_ptr):
// dst must be on the stack; on failure dst is zeroed and -EFAULT returned.
// R1-R5 are clobbered afterwards, as after any helper call.
func (m *machine) probeReadKernel() error {
	m.res.HelperCalls++
	dst, size, src := m.get(asm.R1), m.get(asm.R2), m.get(asm.R3)
	if m.err != nil {
		return m.err
	}
	if size == 0 || size > StackSize {
		return fmt.Errorf("probe_read_kernel size %d: %w", size, ErrFault)
	}
	i, err := m.stackIndex(dst, int(size))
	if err != nil {
		return fmt.Errorf("probe_read_kernel destination: %w", err)
	}
	data, ok := m.mem.Read(src, int(size))
	if ok {
		copy(m.stack[i:], data)
		m.set(asm.R0, 0)
	} else {
		clear(m.stack[i : i+int(size)])
		m.set(asm.R0, efault)
	}
	for j := i; j < i+int(size); j++ {
		m.init[j] = true
	}
	// Helper calls clobber the argument registers.
	for r := asm.R1; r <= asm.R5; r++ {
		m.reg[r], m.regInit[r] = 0, false
	}
	return nil
}
