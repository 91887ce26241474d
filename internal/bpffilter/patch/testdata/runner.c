// SPDX-License-Identifier: GPL-2.0
// A BPF_PROG_TYPE_SYSCALL program that calls one of the six filter
// placeholders on bytes stored in an array map, so that injected filters
// can be executed in a real kernel with BPF_PROG_TEST_RUN (see
// internal/bpffilter/verify). See README.md for how runner.o is built.
#include "../../../bpf/vmlinux.h"
#include <bpf/bpf_helpers.h>

#define PLACEHOLDER_BODY(a, b)                                              \
	bool ret = true;                                                    \
	asm volatile("" : "+r"(ret) : "r"(a), "r"(b));                      \
	return ret;

static __noinline bool filter_pcap_l2(void *data, void *data_end) { PLACEHOLDER_BODY(data, data_end) }
static __noinline bool filter_pcap_l3(void *data, void *data_end) { PLACEHOLDER_BODY(data, data_end) }
static __noinline bool filter_pcap_tunnel_l2(void *data, void *data_end) { PLACEHOLDER_BODY(data, data_end) }
static __noinline bool filter_pcap_tunnel_l3(void *data, void *data_end) { PLACEHOLDER_BODY(data, data_end) }
static __noinline bool filter_skb_expr(struct sk_buff *skb) { PLACEHOLDER_BODY(skb, skb) }
static __noinline bool filter_xdp_expr(struct xdp_buff *xdp) { PLACEHOLDER_BODY(xdp, xdp) }

#define BUF_SIZE 4096

struct buf {
	u8 data[BUF_SIZE];
};

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, u32);
	__type(value, struct buf);
} mem SEC(".maps");

// run_args is the test-run context: which placeholder to call, the length
// of the bytes at the start of the map value (pcap placeholders) and the
// offset of the root struct in it (skb/xdp placeholders).
struct run_args {
	u32 which; // 0 l2, 1 l3, 2 tunnel l2, 3 tunnel l3, 4 skb, 5 xdp
	u32 len;
	u32 root_off;
	u32 pad;
	u64 base;  // out: kernel address of the map value
};

SEC("syscall")
int run(struct run_args *args)
{
	u32 key = 0;
	struct buf *b = bpf_map_lookup_elem(&mem, &key);
	u64 p, addr = 0;
	u32 len, off;

	if (!b)
		return -1;
	// The filters expect plain kernel addresses, as in a kprobe, not a
	// map value pointer: launder it through the stack.
	p = (u64)b;
	if (bpf_probe_read_kernel(&addr, sizeof(addr), &p))
		return -2;
	args->base = addr;
	len = args->len;
	off = args->root_off;
	if (len > BUF_SIZE || off > BUF_SIZE)
		return -3;
	switch (args->which) {
	case 0:
		return filter_pcap_l2((void *)addr, (void *)(addr + len));
	case 1:
		return filter_pcap_l3((void *)addr, (void *)(addr + len));
	case 2:
		return filter_pcap_tunnel_l2((void *)addr, (void *)(addr + len));
	case 3:
		return filter_pcap_tunnel_l3((void *)addr, (void *)(addr + len));
	case 4:
		return filter_skb_expr((struct sk_buff *)(addr + off));
	case 5:
		return filter_xdp_expr((struct xdp_buff *)(addr + off));
	}
	return -4;
}

char LICENSE[] SEC("license") = "GPL";
