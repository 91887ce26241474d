// SPDX-License-Identifier: GPL-2.0
// Minimal kprobe programs calling the six filter placeholders of DESIGN.md,
// for the injection tests of internal/bpffilter/patch, internal/bpffilter/pcap and
// internal/bpffilter/skbexpr. See README.md for how placeholders.o is built.
#include "../../../bpf/vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
#include <bpf/bpf_core_read.h>

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

SEC("kprobe/ip_rcv")
int BPF_KPROBE(probe_skb, struct sk_buff *skb)
{
	void *head = BPF_CORE_READ(skb, head);
	u16 mac = BPF_CORE_READ(skb, mac_header);
	u16 net = BPF_CORE_READ(skb, network_header);
	u32 len = BPF_CORE_READ(skb, len);
	u32 n = len < 512 ? len : 512;

	if (!head || !filter_skb_expr(skb))
		return 0;
	if (mac != (u16)~0 && mac < net) {
		if (!filter_pcap_l2(head + mac, head + mac + n))
			return 0;
	} else if (!filter_pcap_l3(head + net, head + net + n)) {
		return 0;
	}
	if (!filter_pcap_tunnel_l2(head + net, head + net + n))
		return 0;
	return filter_pcap_tunnel_l3(head + net, head + net + n) ? 1 : 0;
}

SEC("kprobe/xdp_do_redirect")
int BPF_KPROBE(probe_xdp, struct net_device *dev, struct xdp_buff *xdp)
{
	void *data = BPF_CORE_READ(xdp, data);
	void *data_end = BPF_CORE_READ(xdp, data_end);

	if (!filter_xdp_expr(xdp))
		return 0;
	return filter_pcap_l2(data, data_end) ? 1 : 0;
}

char LICENSE[] SEC("license") = "GPL";
