package bpf

// bpf2go mirrors struct event (-type event) and every global's type: enum
// counter comes as PwruCounter with the counter_btf global of pwru.c
// (bpf2go refuses a -type counter on top of it as a duplicate name).
//
//go:generate go tool bpf2go -cc clang -cflags "-O2 -g -Wall -Werror -mcpu=v3 -D__TARGET_ARCH_x86" -target amd64 -type event Pwru pwru.c
