package ebpfinterp

import (
	"errors"
	"testing"

	"github.com/cilium/ebpf/asm"
)

func TestRun(t *testing.T) {
	mem := &Memory{}
	if err := mem.Map(0x1000, []byte{1, 2, 3, 4, 5, 6, 7, 8}); err != nil {
		t.Fatal(err)
	}
	ret := asm.Return()
	tests := []struct {
		name string
		prog asm.Instructions
		args []uint64
		want uint64
	}{
		{"mov imm sign-extends", asm.Instructions{asm.Mov.Imm(asm.R0, -1), ret}, nil, ^uint64(0)},
		{"mov32 zero-extends", asm.Instructions{asm.Mov.Imm32(asm.R0, -1), ret}, nil, 0xffffffff},
		{"add sub mul", asm.Instructions{asm.Mov.Imm(asm.R0, 7), asm.Mul.Imm(asm.R0, 6), asm.Sub.Imm(asm.R0, 2), asm.Add.Reg(asm.R0, asm.R1), ret}, []uint64{10}, 50},
		{"div mod by zero", asm.Instructions{asm.Mov.Imm(asm.R0, 9), asm.Mod.Imm(asm.R0, 0), asm.Mov.Imm(asm.R2, 0), asm.Div.Reg(asm.R0, asm.R2), ret}, nil, 0},
		{"mod", asm.Instructions{asm.Mov.Imm(asm.R0, 9), asm.Mod.Imm(asm.R0, 4), ret}, nil, 1},
		{"alu32 wraps", asm.Instructions{asm.Mov.Imm32(asm.R0, -1), asm.Add.Imm32(asm.R0, 2), ret}, nil, 1},
		{"shifts", asm.Instructions{asm.Mov.Imm(asm.R0, -16), asm.ArSh.Imm(asm.R0, 2), asm.LSh.Imm(asm.R0, 60), asm.RSh.Imm(asm.R0, 62), ret}, nil, 3},
		{"arsh32", asm.Instructions{asm.Mov.Imm32(asm.R0, -16), asm.ArSh.Imm32(asm.R0, 2), ret}, nil, 0xfffffffc},
		{"neg and or xor", asm.Instructions{asm.Mov.Imm(asm.R0, 5), asm.Neg.Imm(asm.R0, 0), asm.And.Imm(asm.R0, 0xff), asm.Or.Imm(asm.R0, 0x100), asm.Xor.Imm(asm.R0, 1), ret}, nil, 0x1fa},
		{"to big endian 16", asm.Instructions{asm.Mov.Imm(asm.R0, 0x11223344), asm.HostTo(asm.BE, asm.R0, asm.Half), ret}, nil, 0x4433},
		{"to little endian 32", asm.Instructions{asm.LoadImm(asm.R0, 0x1122334455667788, asm.DWord), asm.HostTo(asm.LE, asm.R0, asm.Word), ret}, nil, 0x55667788},
		{"bswap 64", asm.Instructions{asm.LoadImm(asm.R0, 0x1122334455667788, asm.DWord), asm.BSwap(asm.R0, asm.DWord), ret}, nil, 0x8877665544332211},
		{"unsigned vs signed jump", asm.Instructions{
			asm.Mov.Imm(asm.R1, -1),
			asm.Mov.Imm(asm.R0, 0),
			asm.JGT.Imm(asm.R1, 5, "a"),
			ret,
			asm.Or.Imm(asm.R0, 1).WithSymbol("a"),
			asm.JSGT.Imm(asm.R1, 5, "b"),
			ret,
			asm.Or.Imm(asm.R0, 2).WithSymbol("b"),
			ret,
		}, nil, 1},
		{"jump32 ignores high bits", asm.Instructions{
			asm.LoadImm(asm.R1, 0x1_0000_0005, asm.DWord),
			asm.Mov.Imm(asm.R0, 1),
			asm.JEq.Imm32(asm.R1, 5, "t"),
			asm.Mov.Imm(asm.R0, 0),
			ret.WithSymbol("t"),
		}, nil, 1},
		{"raw offsets", asm.Instructions{
			asm.Mov.Imm(asm.R0, 1),
			{OpCode: asm.JSet.Op(asm.ImmSource), Dst: asm.R0, Constant: 1, Offset: 1},
			asm.Mov.Imm(asm.R0, 7),
			ret,
		}, nil, 1},
		{"stack round trip", asm.Instructions{
			asm.Mov.Imm(asm.R1, 0x55),
			asm.StoreMem(asm.R10, -8, asm.R1, asm.DWord),
			asm.StoreImm(asm.R10, -12, 0x66, asm.Word),
			asm.LoadMem(asm.R0, asm.R10, -8, asm.Byte),
			asm.LoadMem(asm.R2, asm.R10, -12, asm.Word),
			asm.Add.Reg(asm.R0, asm.R2),
			ret,
		}, nil, 0xbb},
		{"probe read", asm.Instructions{
			asm.Mov.Reg(asm.R3, asm.R1),
			asm.Mov.Reg(asm.R1, asm.R10),
			asm.Add.Imm(asm.R1, -8),
			asm.Mov.Imm(asm.R2, 4),
			asm.FnProbeReadKernel.Call(),
			asm.JNE.Imm(asm.R0, 0, "fail"),
			asm.LoadMem(asm.R0, asm.R10, -8, asm.Word),
			ret,
			asm.Mov.Imm(asm.R0, 99).WithSymbol("fail"),
			ret,
		}, []uint64{0x1002}, 0x06050403},
		{"probe read failure", asm.Instructions{
			asm.Mov.Reg(asm.R3, asm.R1),
			asm.Mov.Reg(asm.R1, asm.R10),
			asm.Add.Imm(asm.R1, -8),
			asm.Mov.Imm(asm.R2, 4),
			asm.FnProbeReadKernel.Call(),
			asm.LoadMem(asm.R1, asm.R10, -8, asm.Word), // zeroed, not garbage
			asm.Add.Reg(asm.R0, asm.R1),
			ret,
		}, []uint64{0x1006}, efault},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res, err := Run(tt.prog, &Options{Memory: mem}, tt.args...)
			if err != nil {
				t.Fatal(err)
			}
			if res.R0 != tt.want {
				t.Errorf("r0 = %#x, want %#x", res.R0, tt.want)
			}
		})
	}
}

func TestRunErrors(t *testing.T) {
	mem := &Memory{}
	if err := mem.Map(0x1000, make([]byte, 8)); err != nil {
		t.Fatal(err)
	}
	ret := asm.Return()
	tests := []struct {
		name string
		prog asm.Instructions
		want error
	}{
		{"direct kernel load", asm.Instructions{asm.Mov.Imm(asm.R1, 0x1000), asm.LoadMem(asm.R0, asm.R1, 0, asm.Byte), ret}, ErrFault},
		{"uninitialised stack", asm.Instructions{asm.LoadMem(asm.R0, asm.R10, -8, asm.DWord), ret}, ErrFault},
		{"stack overflow", asm.Instructions{asm.StoreMem(asm.R10, -520, asm.R1, asm.DWord), ret}, ErrFault},
		{"above the stack", asm.Instructions{asm.StoreMem(asm.R10, 0, asm.R1, asm.DWord), ret}, ErrFault},
		{"other helper", asm.Instructions{asm.FnMapLookupElem.Call(), ret}, ErrUnsupported},
		{"unknown label", asm.Instructions{asm.Ja.Label("x"), ret}, ErrBadJump},
		{"runs off the end", asm.Instructions{asm.Mov.Imm(asm.R0, 0)}, ErrBadJump},
		{"endless loop", asm.Instructions{asm.Ja.Label("l").WithSymbol("l")}, ErrStepLimit},
		{"invalid opcode", asm.Instructions{asm.StoreImm(asm.R10, -8, 0, asm.DWord), ret}, ErrUnsupported},
		{"uninitialised r6", asm.Instructions{asm.Mov.Reg(asm.R0, asm.R6), ret}, ErrUninitRegister},
		{"r1 after call", asm.Instructions{
			asm.Mov.Reg(asm.R1, asm.R10), asm.Add.Imm(asm.R1, -8), asm.Mov.Imm(asm.R2, 8), asm.Mov.Imm(asm.R3, 0x1000),
			asm.FnProbeReadKernel.Call(), asm.Mov.Reg(asm.R0, asm.R1), ret,
		}, ErrUninitRegister},
		{"exit without r0", asm.Instructions{ret}, ErrUninitRegister},
		{"probe read to kernel", asm.Instructions{asm.Mov.Imm(asm.R1, 0x1000), asm.Mov.Imm(asm.R2, 4), asm.Mov.Imm(asm.R3, 0x1000), asm.FnProbeReadKernel.Call(), ret}, ErrFault},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Run(tt.prog, &Options{Memory: mem, MaxSteps: 1000})
			if !errors.Is(err, tt.want) {
				t.Errorf("error %v, want %v", err, tt.want)
			}
		})
	}
	if _, err := Run(asm.Instructions{ret}, nil, 1, 2, 3, 4, 5, 6); err == nil {
		t.Error("six arguments accepted")
	}
}

func TestMemoryMap(t *testing.T) {
	m := &Memory{}
	if err := m.Map(0x100, make([]byte, 16)); err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		addr uint64
		n    int
		ok   bool
	}{
		{0x100, 16, true}, {0x10f, 1, true}, {0x10f, 2, false}, {0xff, 1, false}, {0x110, 1, false},
	} {
		if _, ok := m.Read(tt.addr, tt.n); ok != tt.ok {
			t.Errorf("Read(%#x, %d) ok = %v, want %v", tt.addr, tt.n, ok, tt.ok)
		}
	}
	if err := m.Map(0x108, make([]byte, 16)); err == nil {
		t.Error("overlapping Map accepted")
	}
	if err := m.Map(^uint64(0)-2, make([]byte, 16)); err == nil {
		t.Error("wrapping Map accepted")
	}
}
