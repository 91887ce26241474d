// SPDX-License-Identifier: GPL-2.0
//
// The pwru-record kernel program. One event per probe hit leaves through a
// BPF ring buffer: a fixed-size core (struct event) followed by the variable
// parts the configuration asks for (payload, raw struct bytes, metadata).
// See doc.go for the layout contract with the tracer package.

//go:build ignore

#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_core_read.h>
#include <bpf/bpf_tracing.h>
#include <bpf/bpf_endian.h>

char __license[] SEC("license") = "GPL";

#define ETH_P_IP 0x0800
#define ETH_P_IPV6 0x86DD
#define ARPHRD_ETHER 1
#define IPPROTO_TCP_ 6
#define IPPROTO_UDP_ 17
#define IPPROTO_SCTP_ 132

// Bounds of the variable parts of a record.
#define MAX_PAYLOAD 2048 // --snaplen is capped to this
#define MAX_RAW 1024	 // raw struct sk_buff / skb_shared_info bytes
#define CB_SIZE 48
#define MAX_META 4	   // --output-skb-metadata (and --output-xdp-metadata) fields
#define META_SIZE (MAX_META * 8)
#define MAX_META_DEREF 3   // pointer hops in one metadata path
#define PCAP_BOUND 512	   // data_end = data + min(linear length, PCAP_BOUND)
#define FILTER_STACK 256   // stack the filter placeholders may use
#define PAYLOAD_HASH_WORDS 8
#define SKB_COPY_MAX 512 // bytes of struct sk_buff copied per probe hit
#define MAX_STACK_DEPTH 64 // frames hashed into a stack id (track_stack keys)
#define OUT_STACK_DEPTH 50 // --output-stack frames copied into the record
#define OUT_STACK_BYTES (OUT_STACK_DEPTH * 8)
// --filter-non-skb-funcs: the caller chain an skb function leaves in the
// chain map is this many return addresses (fewer when the stack is
// shorter); STACK_SPAN bounds the distance between two frames of one
// kernel stack (x86-64 task and IRQ stacks are 16 KiB).
#define CHAIN_WINDOW 8
#define STACK_SPAN (16 * 1024)
// --output-bpfmap: a 48-byte header, then up to this many key and value
// bytes (format/SPEC.md, blob kind 5).
#define BPFMAP_HDR 48
#define MAX_BPFMAP_KEY 128
#define MAX_BPFMAP_VALUE 256
#define BPFMAP_SIZE (BPFMAP_HDR + MAX_BPFMAP_KEY + MAX_BPFMAP_VALUE)

// OPAQUE makes the compiler forget what it knows about v, so the bounds
// checks that follow are done on the register that is actually used (the
// verifier must see them).
#define OPAQUE(v) asm volatile("" : "+r"(v))

// Event flags: identical to format.EventFlags.
#define F_DROP_REASON (1 << 0)
#define F_RETVAL (1 << 1)
#define F_EXIT (1 << 2)
#define F_TRACKED (1 << 3)
#define F_XDP (1 << 4)
#define F_NON_SKB (1 << 5)
#define F_TRIGGER (1 << 6) // the packet matches --trigger-pcap

// payload_flags bits.
#define PAYLOAD_L3 (1 << 0)

// Counter indexes of the per-CPU counters map.
enum counter {
	COUNTER_RINGBUF_LOST = 0,
	COUNTER_STACK_LOST, // bpf_get_stack failed (--output-stack)
	COUNTER_PAYLOAD_READ_ERR,
	COUNTER_TRACK_FULL,
	COUNTER_NULL_SKB, // probe hits whose skb argument was NULL (no event)
	COUNTER_BPFMAP_TRUNCATED, // map operations whose key or value was cut
	COUNTER_BPFMAP_READ_ERR,  // map operations whose key or value could not be read
	COUNTER_STACKID_LOST, // bpf_get_stackid failed (--filter-track-skb-by-stackid)
	COUNTER_COPY_LOST,    // a clone/copy of a tracked skb not linked (kprobe fallback)
	COUNTER_CHAIN_LOST,   // bpf_get_stack failed for a caller chain (--filter-non-skb-funcs)
	COUNTER_PROBE_UNKNOWN, // kprobe hit at an address probe_addrs lacks (no_attach_cookie)
	NUM_COUNTERS,
};

// The BTF of enum counter for bpf2go -type counter (BTF holds an enum only
// when something uses it; an array map's key must stay a plain u32).
const volatile enum counter counter_btf SEC(".rodata") = NUM_COUNTERS;

// event is the fixed-size core of every ring buffer record. Variable parts
// follow it in this order, each of the stated length: payload
// (payload_len), raw sk_buff (skb_len), raw skb_shared_info (shinfo_len),
// skb->cb (cb_len), metadata (meta_len), xdp metadata fields (xdp_meta_len),
// BPF map operation (bpfmap_len), kernel stack (stack_len bytes: return
// addresses, innermost first).
struct event {
	u64 time;
	u64 skb;
	u64 track_id;
	u64 caller;
	s64 retval;
	u32 probe_id;
	u32 cpu;
	u32 pid;
	u32 netns;
	u32 mark;
	u32 ifindex;
	u32 len;
	u32 mtu;
	u32 drop_reason;
	s32 stack_id; // in-kernel only (track_stack key); user space ignores it
	u32 orig_len; // length the payload was cut from
	u16 protocol; // network byte order
	u16 flags;
	u16 sport; // network byte order
	u16 dport; // network byte order
	u8 pkt_type;
	u8 l4_proto;
	u8 ip_version; // 0 (none), 4 or 6
	u8 payload_flags;
	u8 saddr[16];
	u8 daddr[16];
	char comm[16];
	u16 payload_len;
	u16 skb_len;
	u16 shinfo_len;
	u16 cb_len;
	u16 meta_len;
	u16 xdp_meta_len;
	u16 bpfmap_len;
	u16 stack_len;
};

// meta_field describes one --output-skb-metadata (--output-xdp-metadata)
// path: starting at the sk_buff (xdp_buff), follow nderef pointers (each read at off[i] of the previous
// struct), then read size bytes at off[nderef]; bitfields are shifted and
// masked.
struct meta_field {
	u32 off[MAX_META_DEREF + 1];
	u8 nderef;
	u8 size;
	u8 bit_shift; // right shift applied after the read
	u8 bit_width; // 0 = whole value
};

// config is set by the tracer before load (.rodata); every zero value means
// "off".
struct config {
	u32 netns;
	u32 mark;
	u32 mark_mask;
	u32 ifindex;
	u32 snaplen;
	u32 drop_probe_id;
	u32 kfree_skbmem_probe_id; // 0 = kfree_skbmem is not a traced probe
	u32 prog_probe_id;	   // fentry/fexit on a tc/XDP program: its probe id
	u8 filter_netns;
	u8 filter_mark;
	u8 filter_ifindex;
	u8 filter_pcap;
	u8 filter_tunnel;
	u8 filter_skb_expr;
	u8 filter_xdp_expr;
	u8 trigger_pcap; // --trigger-pcap: flag (F_TRIGGER) the events whose packet matches
	u8 payload_every;
	u8 track_skb;
	u8 track_stackid;
	u8 output_stack;
	u8 output_caller;
	u8 output_skb;
	u8 output_shinfo;
	u8 output_cb;
	u8 meta_count;	   // sk_buff fields: meta[0, meta_count)
	u8 xdp_meta_count; // xdp_buff fields: meta[MAX_META, MAX_META + xdp_meta_count)
	u8 track_bpf_helpers;
	u8 output_bpfmap;
	u8 track_non_skb; // --filter-non-skb-funcs: skb functions leave caller chains
	// What the kernel lacks (the tracer probes it): no
	// bpf_get_attach_cookie (kprobes find their cookie in probe_addrs),
	// no drop reason argument of the kfree_skb tracepoint.
	u8 no_attach_cookie;
	u8 no_drop_reason;
	u32 ncpus; // possible CPUs: track ids are per-CPU counters interleaved
	struct meta_field meta[2 * MAX_META];
};

volatile const struct config CFG = {};

// ABLATE: parts of the probe path left out, for the ablation of `make
// vmbench` ("where the time went"; pwru-record --debug-ablate, hidden). A
// set bit makes the verifier prune the part. Zero in every real recording:
// a left-out part loses data.
volatile const u32 ABLATE = 0;
#define ABL_PAYLOAD (1 << 0) // payload: hash, payload_seen lookup/update, copy
#define ABL_META (1 << 1)    // skb fields: mark, len, protocol, pkt_type, dev ifindex/mtu, netns
#define ABL_TUPLE (1 << 2)   // L3/L4 tuple parsing
#define ABL_COMMON (1 << 3)  // time, CPU, pid, comm
#define ABL_RING (1 << 4)    // the ring buffer record
#define ABL_COOKIE (1 << 5)  // bpf_get_attach_cookie (a constant probe id instead)
#define ABL_POST (1 << 6)    // everything after the filter decision
#define ABL_BODY (1 << 7)    // everything after the cookie: the program returns at once

// chain_key: CPU and len return addresses of a kernel stack, innermost
// first (the rest of ips is zero). chain_val: the skb function frame that
// left them: its skb, track id (0: the skb is not tracked) and stack
// pointer at entry (the address of its return address).
struct chain_key {
	u32 cpu;
	u32 len;
	u64 ips[CHAIN_WINDOW];
};

struct chain_val {
	u64 track_id;
	u64 skb;
	u64 sp;
};

struct scratch {
	struct event ev;
	u8 data[MAX_PAYLOAD + 2 * MAX_RAW + CB_SIZE + META_SIZE + META_SIZE + BPFMAP_SIZE +
		OUT_STACK_BYTES];
	// The kernel stack of the probe hit (stack_take), and the chain map's
	// key and value (kept here, off the BPF stack).
	u64 ips[OUT_STACK_DEPTH];
	struct chain_key key;
	struct chain_val val;
	u8 skb[SKB_COPY_MAX]; // the probed sk_buff (skb_copy_in)
};

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 1 << 22); // overridden by the tracer
} events SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__type(key, u32);
	__type(value, struct scratch);
	__uint(max_entries, 1);
} scratch_map SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__type(key, u32);
	__type(value, u64);
	__uint(max_entries, NUM_COUNTERS);
} counters SEC(".maps");

// Stack ids, the keys of track_stack (see get_stackid); --output-stack does
// not use this map.
struct {
	__uint(type, BPF_MAP_TYPE_STACK_TRACE);
	__uint(key_size, sizeof(u32));
	__uint(value_size, MAX_STACK_DEPTH * sizeof(u64));
	__uint(max_entries, 8192);
} stacks SEC(".maps");

// skb address -> track id, while the skb lives (--filter-track-skb).
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__type(key, u64);
	__type(value, u64);
	__uint(max_entries, 65536);
} track_skb SEC(".maps");

// stack id -> track id (--filter-track-skb-by-stackid).
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__type(key, u32);
	__type(value, u64);
	__uint(max_entries, 8192);
} track_stack SEC(".maps");

// Caller chains of skb function frames (--filter-non-skb-funcs): a
// function without an skb that finds one of them in its own stack runs
// within that frame, so within the processing of its skb (see
// handle_non_skb).
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__type(key, struct chain_key);
	__type(value, struct chain_val);
	__uint(max_entries, 8192);
} chain SEC(".maps");

// --payload first: the payload last recorded for an skb, as a direct-mapped
// cache of tags (payload_slot): slot = a hash of the skb's address, tag =
// the payload's hash mixed with that address (0 = empty). An array lookup
// is inlined by the verifier; a hash map lookup was a helper call on every
// event. Two live skbs sharing a slot only record their payload again
// (the same bytes, deduplicated in user space), never lose one: a payload
// is left out only when the slot holds this skb's tag for the same bytes.
#define PAYLOAD_SLOTS 16384
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__type(key, u32);
	__type(value, u64);
	__uint(max_entries, PAYLOAD_SLOTS);
} payload_seen SEC(".maps");

static __always_inline u64 *payload_slot(u64 skb)
{
	u32 k = (u32)((skb >> 8) ^ (skb >> 22)) & (PAYLOAD_SLOTS - 1);

	return bpf_map_lookup_elem(&payload_seen, &k);
}

// payload_forget empties the slot of a freed skb (whoever holds it: at
// worst another skb records its payload again).
static __always_inline void payload_forget(u64 skb)
{
	u64 *t = payload_slot(skb);

	if (t)
		*t = 0;
}

// The tc/XDP program running on this CPU, for --filter-track-bpf-helpers:
// set by fentry_tc/fentry_xdp, cleared by their fexit.
struct prog_ctx {
	u64 ptr; // struct sk_buff * or struct xdp_buff *
	u64 xdp;
};

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__type(key, u32);
	__type(value, struct prog_ctx);
	__uint(max_entries, 1);
} cur_prog SEC(".maps");

// Task -> tracked skb being cloned or copied, from the entry to the return
// of skb_clone & co. (clone tracking by kprobe+kretprobe, where the fexit
// programs cannot attach).
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__type(key, u64);
	__type(value, u64);
	__uint(max_entries, 4096);
} copy_src SEC(".maps");

// Source of track ids: a counter per CPU (see next_track_id).
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__type(key, u32);
	__type(value, u64);
	__uint(max_entries, 1);
} track_ids SEC(".maps");

// Function address -> attach cookie of its kprobe, for kernels without
// bpf_get_attach_cookie (CFG.no_attach_cookie; the tracer sizes and fills
// it then).
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__type(key, u64);
	__type(value, u64);
	__uint(max_entries, 1);
} probe_addrs SEC(".maps");

static __always_inline void count(u32 idx)
{
	u64 *v = bpf_map_lookup_elem(&counters, &idx);
	if (v)
		*v += 1;
}

// kprobe_cookie returns the attach cookie of the kprobe (or kprobe.multi
// link) that runs: from bpf_get_attach_cookie, or where the kernel lacks
// it from probe_addrs by the probed function's address. A kprobe at a
// function's entry sees the instruction pointer one byte past it (past
// the int3, or as ftrace emulates it). 0 (counted): not found.
static __always_inline u64 kprobe_cookie(struct pt_regs *ctx)
{
	u64 ip;
	u64 *c;

	if (ABLATE & ABL_COOKIE)
		return 1;
	if (!CFG.no_attach_cookie)
		return bpf_get_attach_cookie(ctx);
	ip = PT_REGS_IP(ctx) - 1;
	c = bpf_map_lookup_elem(&probe_addrs, &ip);
	if (!c) {
		count(COUNTER_PROBE_UNKNOWN);
		return 0;
	}
	return *c;
}

// Filter placeholders. internal/bpffilter/pcap and .../skbexpr replace the
// bodies before load; the defaults match everything. The asm statement
// keeps the arguments live and the result opaque, so the compiler neither
// drops parameters nor folds the call away. The probe paths that call them
// keep their own stack frame small (see doc.go) so an injected body has
// room for FILTER_STACK bytes of stack.
#define PLACEHOLDER_BODY(a, b)                                              \
	bool ret = true;                                                    \
	asm volatile("" : "+r"(ret) : "r"(a), "r"(b));                      \
	return ret;

static __noinline bool filter_pcap_l2(void *data, void *data_end)
{
	PLACEHOLDER_BODY(data, data_end)
}

static __noinline bool filter_pcap_l3(void *data, void *data_end)
{
	PLACEHOLDER_BODY(data, data_end)
}

static __noinline bool filter_pcap_tunnel_l2(void *data, void *data_end)
{
	PLACEHOLDER_BODY(data, data_end)
}

static __noinline bool filter_pcap_tunnel_l3(void *data, void *data_end)
{
	PLACEHOLDER_BODY(data, data_end)
}

// The flight recorder's --trigger-pcap: it flags events, it filters none.
static __noinline bool trigger_pcap_l2(void *data, void *data_end)
{
	PLACEHOLDER_BODY(data, data_end)
}

static __noinline bool trigger_pcap_l3(void *data, void *data_end)
{
	PLACEHOLDER_BODY(data, data_end)
}

static __noinline bool filter_skb_expr(struct sk_buff *skb)
{
	PLACEHOLDER_BODY(skb, skb)
}

static __noinline bool filter_xdp_expr(struct xdp_buff *xdp)
{
	PLACEHOLDER_BODY(xdp, xdp)
}

// Where packet bytes start in an skb.
struct skb_data {
	void *start;
	u32 linear; // bytes available in the linear area from start
	u32 orig;   // packet length counted from start
	// Network and transport header offsets from start (~0: not in the
	// packet from start on), for the tuple read from the packet bytes.
	u32 net;
	u32 trans;
	bool l3;
};

// The probed sk_buff is read once per probe hit into the scratch buffer
// (skb_copy_in) and its fields are then loaded from that copy (k below):
// one helper call instead of one per field.

// dev_type reads dev->type.
static __always_inline u16 dev_type(struct net_device *dev)
{
	return BPF_CORE_READ(dev, type);
}

// skb_locate finds the packet bytes of the sk_buff whose copy is k.
static __always_inline bool skb_locate(struct sk_buff *k, struct skb_data *d)
{
	void *head = k->head;
	u16 mac = k->mac_header;
	u16 net = k->network_header;
	u32 tail = k->tail;
	u32 len = k->len;
	u32 data_off = (u32)((u64)k->data - (u64)head);
	u32 off;

	if (!head)
		return false;
	// dev->type is read only when the MAC header could start the packet.
	if (mac != (u16)~0 && mac < net && dev_type(k->dev) == ARPHRD_ETHER) {
		off = mac;
		d->l3 = false;
	} else if (net != 0 && net != (u16)~0) {
		off = net;
		d->l3 = true;
	} else {
		off = data_off;
		d->l3 = true;
	}
	if (tail <= off)
		return false;
	d->net = ~0;
	d->trans = ~0;
	if (net != (u16)~0 && net >= off)
		d->net = net - off;
	if (k->transport_header != (u16)~0 && k->transport_header > net && net != (u16)~0)
		d->trans = k->transport_header - off;
	d->start = head + off;
	d->linear = tail - off;
	d->orig = len;
	if (data_off > off)
		d->orig = len + (data_off - off);
	else if (off - data_off < len)
		d->orig = len - (off - data_off);
	return true;
}

static __always_inline bool run_pcap(struct skb_data *d)
{
	u32 n = d->linear < PCAP_BOUND ? d->linear : PCAP_BOUND;
	void *end = d->start + n;

	if (d->l3)
		return filter_pcap_l3(d->start, end);
	return filter_pcap_l2(d->start, end);
}

static __always_inline bool run_trigger_pcap(struct skb_data *d)
{
	u32 n = d->linear < PCAP_BOUND ? d->linear : PCAP_BOUND;
	void *end = d->start + n;

	if (d->l3)
		return trigger_pcap_l3(d->start, end);
	return trigger_pcap_l2(d->start, end);
}

#define VXLAN_PORT 4789
#define GENEVE_PORT 6081

// Finds the inner Ethernet frame of a VXLAN or Geneve packet whose network
// header starts at net. Returns NULL when the packet is not one.
static __always_inline void *tunnel_inner(void *net, void *end)
{
	u8 vhl;
	u8 proto;
	u32 l3len;
	struct udphdr udp;
	u16 dport;
	u8 gopt;

	if (bpf_probe_read_kernel(&vhl, 1, net))
		return NULL;
	if ((vhl >> 4) == 4) {
		l3len = (vhl & 0xf) * 4;
		if (bpf_probe_read_kernel(&proto, 1, net + 9))
			return NULL;
	} else if ((vhl >> 4) == 6) {
		l3len = 40;
		if (bpf_probe_read_kernel(&proto, 1, net + 6))
			return NULL;
	} else {
		return NULL;
	}
	if (proto != IPPROTO_UDP_)
		return NULL;
	if (bpf_probe_read_kernel(&udp, sizeof(udp), net + l3len))
		return NULL;
	dport = bpf_ntohs(udp.dest);
	if (dport == VXLAN_PORT)
		return net + l3len + 8 + 8;
	if (dport == GENEVE_PORT) {
		if (bpf_probe_read_kernel(&gopt, 1, net + l3len + 8))
			return NULL;
		return net + l3len + 8 + 8 + (gopt & 0x3f) * 4;
	}
	return NULL;
}

static __always_inline bool run_tunnel_pcap(struct sk_buff *k)
{
	void *head = k->head;
	u16 net = k->network_header;
	u32 tail = k->tail;
	void *end = head + tail;
	void *inner;
	void *inner_end;
	u64 n;

	if (!head || net == 0 || net == (u16)~0 || net >= tail)
		return false;
	inner = tunnel_inner(head + net, end);
	if (!inner || inner + 14 >= end)
		return false;
	n = end - inner;
	if (n > PCAP_BOUND)
		n = PCAP_BOUND;
	inner_end = inner + n;
	if (!filter_pcap_tunnel_l2(inner, inner_end))
		return false;
	return filter_pcap_tunnel_l3(inner + 14, inner_end);
}

// skb_netns: the netns inode of the skb (copy k) by its device, else by
// its socket.
static __always_inline u32 skb_netns(struct sk_buff *k)
{
	struct net_device *dev = k->dev;
	struct sock *sk;
	u32 ino = BPF_CORE_READ(dev, nd_net.net, ns.inum);

	if (ino == 0) {
		sk = k->sk;
		ino = BPF_CORE_READ(sk, __sk_common.skc_net.net, ns.inum);
	}
	return ino;
}

// Fills the tuple fields of ev from the network header of the skb whose
// copy is k.
static __always_inline void skb_tuple(struct sk_buff *k, struct event *ev)
{
	void *head = k->head;
	u16 net = k->network_header;
	u16 trans = k->transport_header;
	void *l4;
	u8 vhl;

	if (!head || net == 0 || net == (u16)~0)
		return;
	if (bpf_probe_read_kernel(&vhl, 1, head + net))
		return;
	if ((vhl >> 4) == 4) {
		struct iphdr ip;

		if (bpf_probe_read_kernel(&ip, sizeof(ip), head + net))
			return;
		ev->ip_version = 4;
		ev->l4_proto = ip.protocol;
		__builtin_memcpy(ev->saddr, &ip.saddr, 4);
		__builtin_memcpy(ev->daddr, &ip.daddr, 4);
		l4 = head + net + (vhl & 0xf) * 4;
	} else if ((vhl >> 4) == 6) {
		struct ipv6hdr ip6;

		if (bpf_probe_read_kernel(&ip6, sizeof(ip6), head + net))
			return;
		ev->ip_version = 6;
		ev->l4_proto = ip6.nexthdr;
		__builtin_memcpy(ev->saddr, &ip6.saddr, 16);
		__builtin_memcpy(ev->daddr, &ip6.daddr, 16);
		l4 = head + net + sizeof(ip6);
	} else {
		return;
	}
	if (trans != (u16)~0 && trans > net)
		l4 = head + trans;
	if (ev->l4_proto == IPPROTO_TCP_ || ev->l4_proto == IPPROTO_UDP_ ||
	    ev->l4_proto == IPPROTO_SCTP_) {
		u16 ports[2];

		if (bpf_probe_read_kernel(ports, sizeof(ports), l4) == 0) {
			ev->sport = ports[0];
			ev->dport = ports[1];
		}
	}
}

// next_track_id returns a new track id, unique across CPUs without an
// atomic fetch (older verifiers reject it): the n-th id of CPU c is
// n * ncpus + c + 1, so ids stay small and dense.
static __always_inline u64 next_track_id(void)
{
	u32 zero = 0;
	u64 *v = bpf_map_lookup_elem(&track_ids, &zero);
	u64 n = CFG.ncpus;
	u64 id;

	if (!v)
		return 0;
	if (n == 0)
		n = 1;
	id = *v * n + bpf_get_smp_processor_id() + 1;
	*v += 1;
	return id;
}

// Where the variable parts go: a bounded cursor into scratch->data.
#define DATA_CAP (sizeof(((struct scratch *)0)->data))

#define PKT_HASHED (PAYLOAD_HASH_WORDS * 8)

// pkt_read reads the first bytes of the located packet once into the
// payload's place in the record (s->data[0], the first variable part):
// max(snaplen, PKT_HASHED) bytes, at most the linear area. They serve the
// payload hash, the tuple and the payload itself (one helper call instead
// of five). It returns the bytes read (0: none, counted).
static __always_inline u32 pkt_read(struct scratch *s, struct skb_data *d)
{
	u64 n = CFG.snaplen;

	if (n < PKT_HASHED)
		n = PKT_HASHED;
	if (n > d->linear)
		n = d->linear;
	OPAQUE(n);
	if (n == 0 || n > MAX_PAYLOAD)
		return 0;
	if (bpf_probe_read_kernel(s->data, n, d->start)) {
		count(COUNTER_PAYLOAD_READ_ERR);
		return 0;
	}
	return n;
}

// pkt_hash hashes the first PKT_HASHED of the n bytes pkt_read left (and
// the packet's length), for --payload first.
static __always_inline u64 pkt_hash(struct scratch *s, u32 n, struct skb_data *d)
{
	u64 h = 0xcbf29ce484222325ULL ^ d->orig ^ ((u64)n << 32);

	for (u32 i = 0; i < PAYLOAD_HASH_WORDS; i++) {
		u64 w;

		if (i * 8 >= n)
			break;
		__builtin_memcpy(&w, &s->data[i * 8], 8);
		if (n - i * 8 < 8)
			w &= (1ULL << ((n - i * 8) * 8)) - 1;
		h ^= w;
		h *= 0x100000001b3ULL;
	}
	return h;
}

// pkt_tuple fills the tuple fields of ev from the n packet bytes pkt_read
// left, when the headers lie within them; false: not there (the caller
// reads them from the skb).
static __always_inline bool pkt_tuple(struct scratch *s, u32 n, struct skb_data *d, struct event *ev)
{
	u64 o = d->net;
	u64 l4;
	u8 vhl;

	OPAQUE(o);
	if (o > PKT_HASHED || o + 20 > n)
		return false;
	vhl = s->data[o];
	if ((vhl >> 4) == 4) {
		ev->ip_version = 4;
		ev->l4_proto = s->data[o + 9];
		__builtin_memcpy(ev->saddr, &s->data[o + 12], 4);
		__builtin_memcpy(ev->daddr, &s->data[o + 16], 4);
		l4 = o + (vhl & 0xf) * 4;
	} else if ((vhl >> 4) == 6) {
		if (o + 40 > n)
			return false;
		ev->ip_version = 6;
		ev->l4_proto = s->data[o + 6];
		__builtin_memcpy(ev->saddr, &s->data[o + 8], 16);
		__builtin_memcpy(ev->daddr, &s->data[o + 24], 16);
		l4 = o + 40;
	} else {
		return false;
	}
	if (d->trans != (u32)~0 && d->trans > o)
		l4 = d->trans;
	if (ev->l4_proto == IPPROTO_TCP_ || ev->l4_proto == IPPROTO_UDP_ ||
	    ev->l4_proto == IPPROTO_SCTP_) {
		OPAQUE(l4);
		if (l4 > MAX_PAYLOAD - 4 || l4 + 4 > n) {
			// The ports lie beyond the bytes read: the tuple is
			// read from the skb instead.
			ev->ip_version = 0;
			ev->l4_proto = 0;
			__builtin_memset(ev->saddr, 0, 16);
			__builtin_memset(ev->daddr, 0, 16);
			return false;
		}
		__builtin_memcpy(&ev->sport, &s->data[l4], 2);
		__builtin_memcpy(&ev->dport, &s->data[l4 + 2], 2);
	}
	return true;
}


static __always_inline u32 put_payload(struct scratch *s, u32 pos, struct skb_data *d)
{
	u64 n = CFG.snaplen;
	u64 p = pos;

	if (n > d->linear)
		n = d->linear;
	OPAQUE(n);
	if (n == 0 || n > MAX_PAYLOAD)
		return pos;
	OPAQUE(p);
	if (p > DATA_CAP - MAX_PAYLOAD)
		return pos;
	pos = p;
	if (bpf_probe_read_kernel(&s->data[p], n, d->start)) {
		count(COUNTER_PAYLOAD_READ_ERR);
		return pos;
	}
	s->ev.payload_len = n;
	s->ev.orig_len = d->orig;
	if (d->l3)
		s->ev.payload_flags |= PAYLOAD_L3;
	return pos + n;
}

static __always_inline u32 put_raw(struct scratch *s, u32 pos, void *src, u64 size, u16 *lenp)
{
	u64 p = pos;

	if (size > MAX_RAW)
		size = MAX_RAW;
	OPAQUE(size);
	if (size == 0 || size > MAX_RAW)
		return pos;
	OPAQUE(p);
	if (p > DATA_CAP - MAX_RAW)
		return pos;
	if (bpf_probe_read_kernel(&s->data[p], size, src))
		return pos;
	*lenp = size;
	return pos + size;
}

// read_meta reads the field of CFG.meta[i] from ptr (an sk_buff or an
// xdp_buff).
static __always_inline u64 read_meta(void *ptr, u32 i)
{
	u64 p = (u64)ptr;
	u64 v = 0;
	u8 n;
	u64 size;

	if (i >= 2 * MAX_META)
		return 0;
	n = CFG.meta[i].nderef;
	for (u32 k = 0; k < MAX_META_DEREF; k++) {
		if (k >= n)
			break;
		if (bpf_probe_read_kernel(&p, sizeof(p), (void *)(p + CFG.meta[i].off[k])) || !p)
			return 0;
	}
	if (n > MAX_META_DEREF)
		return 0;
	size = CFG.meta[i].size;
	OPAQUE(size);
	if (size == 0 || size > 8)
		return 0;
	if (bpf_probe_read_kernel(&v, size, (void *)(p + CFG.meta[i].off[n])))
		return 0;
	if (CFG.meta[i].bit_width) {
		v >>= CFG.meta[i].bit_shift;
		if (CFG.meta[i].bit_width < 64)
			v &= (1ULL << CFG.meta[i].bit_width) - 1;
	}
	return v;
}

// put_meta appends the n fields CFG.meta[first, first + n) read from ptr,
// 8 bytes each, and sets *lenp to their length.
static __always_inline u32 put_meta(struct scratch *s, u32 pos, void *ptr, u32 first, u32 n,
				    u16 *lenp)
{
	u64 p = pos;

	OPAQUE(p);
	if (n == 0 || p > DATA_CAP - META_SIZE)
		return pos;
	if (n > MAX_META)
		n = MAX_META;
	for (u32 i = 0; i < MAX_META; i++) {
		u64 v;

		if (i >= n)
			break;
		v = read_meta(ptr, first + i);
		__builtin_memcpy(&s->data[p + i * 8], &v, 8);
	}
	*lenp = n * 8;
	return pos + n * 8;
}

// --output-bpfmap, part 1: the record of one map operation, built by the
// map probes (end of this file) in a per-CPU stash and copied into the
// event by put_bpfmap. rec holds the blob of format/SPEC.md (kind 5):
// struct bpfmap_hdr, key_len key bytes, value_len value bytes.
struct bpfmap_hdr {
	u32 id;
	u32 map_type;
	u32 key_size;	// the map's key size (key_len < key_size: truncated)
	u32 value_size; // the map's value size
	char name[16];
	u8 op;	  // BPFMAP_OP_*
	u8 flags; // BPFMAP_F_*
	u16 key_len;
	u16 value_len;
	u16 reserved;
	u64 update_flags; // BPF_ANY, BPF_NOEXIST, BPF_EXIST, BPF_F_LOCK
};

_Static_assert(sizeof(struct bpfmap_hdr) == BPFMAP_HDR, "bpfmap header layout");

struct bpfmap_stash {
	u64 cookie; // of the lookup whose return is awaited (0 = none)
	u32 len;    // bytes of rec in use
	u32 ready;  // put_bpfmap copies rec into the next event
	u8 rec[BPFMAP_SIZE];
};

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__type(key, u32);
	__type(value, struct bpfmap_stash);
	__uint(max_entries, 1);
} bpfmap_stash SEC(".maps");

static __always_inline u32 put_bpfmap(struct scratch *s, u32 pos)
{
	u32 zero = 0;
	struct bpfmap_stash *st;
	u64 n;
	u64 p = pos;

	if (!CFG.output_bpfmap)
		return pos;
	st = bpf_map_lookup_elem(&bpfmap_stash, &zero);
	if (!st || !st->ready)
		return pos;
	n = st->len;
	OPAQUE(n);
	OPAQUE(p);
	if (n < BPFMAP_HDR || n > BPFMAP_SIZE || p > DATA_CAP - BPFMAP_SIZE)
		return pos;
	if (bpf_probe_read_kernel(&s->data[p], n, st->rec))
		return pos;
	s->ev.bpfmap_len = n;
	return pos + n;
}

static __always_inline struct scratch *scratch_get(void)
{
	u32 zero = 0;
	struct scratch *s = bpf_map_lookup_elem(&scratch_map, &zero);

	if (!s)
		return NULL;
	__builtin_memset(&s->ev, 0, sizeof(s->ev));
	return s;
}

static __always_inline void fill_common(struct event *ev, u32 probe_id, u16 flags)
{
	u64 tgid;

	ev->probe_id = probe_id;
	ev->flags |= flags;
	if (ABLATE & ABL_COMMON)
		return;
	tgid = bpf_get_current_pid_tgid();
	ev->time = bpf_ktime_get_ns();
	ev->cpu = bpf_get_smp_processor_id();
	ev->pid = tgid >> 32;
	bpf_get_current_comm(ev->comm, sizeof(ev->comm));
}

static __always_inline void emit(struct scratch *s, u32 pos)
{
	u64 size = sizeof(struct event) + pos;

	OPAQUE(size);
	if ((ABLATE & ABL_RING) || size > sizeof(struct scratch))
		return;
	if (bpf_ringbuf_output(&events, s, size, 0))
		count(COUNTER_RINGBUF_LOST);
}

// get_stackid returns the id of the current kernel stack in the stacks map,
// the key of track_stack. BPF_F_REUSE_STACKID makes the id the stack's hash
// bucket, whatever the bucket held before: a tracked stack always finds its
// id again. Without it a bucket, once taken, stays taken (nothing deletes
// from the map, and every probe hit takes an id before filtering), so on a
// busy host the stacks of unrelated traffic fill the map and every later
// stack fails with EEXIST. The price: two stacks in one bucket (of 8192)
// share a track id.
static __always_inline s32 get_stackid(void *ctx)
{
	s32 id = bpf_get_stackid(ctx, &stacks, BPF_F_REUSE_STACKID);

	if (id < 0)
		count(COUNTER_STACKID_LOST);
	return id;
}

// stack_take copies the current kernel stack (return addresses, innermost
// first, at most OUT_STACK_DEPTH) to s->ips; it returns the bytes copied,
// or -1.
static __always_inline long stack_take(void *ctx, struct scratch *s)
{
	long n = bpf_get_stack(ctx, s->ips, sizeof(s->ips), 0);

	OPAQUE(n);
	if (n < 0 || n > sizeof(s->ips))
		return -1;
	return n;
}

// put_taken_stack appends the n bytes of stack that stack_take left in
// s->ips (n < 0: it failed) to the record (--output-stack), as its last
// variable part; user space deduplicates stacks.
static __always_inline u32 put_taken_stack(struct scratch *s, u32 pos, long n)
{
	u64 p = pos;

	if (!CFG.output_stack)
		return pos;
	OPAQUE(p);
	OPAQUE(n);
	if (n < 0 || n > OUT_STACK_BYTES || p > DATA_CAP - OUT_STACK_BYTES) {
		count(COUNTER_STACK_LOST);
		return pos;
	}
	if (n == 0)
		return pos;
	if (bpf_probe_read_kernel(&s->data[p], n, s->ips)) {
		count(COUNTER_STACK_LOST);
		return pos;
	}
	s->ev.stack_len = n;
	return pos + n;
}

// put_stack appends the current kernel stack (--output-stack).
static __always_inline u32 put_stack(void *ctx, struct scratch *s, u32 pos)
{
	if (!CFG.output_stack)
		return pos;
	return put_taken_stack(s, pos, stack_take(ctx, s));
}

// chain_key_at sets s->key to the caller chain that starts at frame k of
// the nips frames in s->ips: at most CHAIN_WINDOW return addresses, fewer
// at the bottom of the stack. It returns false when there is none.
static __always_inline bool chain_key_at(struct scratch *s, u32 cpu, u32 k, u32 nips)
{
	u32 w;

	if (k >= nips || nips > OUT_STACK_DEPTH)
		return false;
	w = nips - k;
	if (w > CHAIN_WINDOW)
		w = CHAIN_WINDOW;
	s->key.cpu = cpu;
	s->key.len = w;
	for (u32 i = 0; i < CHAIN_WINDOW; i++) {
		u32 j = k + i;

		if (i < w && j < OUT_STACK_DEPTH)
			s->key.ips[i] = s->ips[j];
		else
			s->key.ips[i] = 0;
	}
	return true;
}

// chain_store: an skb function frame (the stack taken by stack_take, n
// bytes; sp its stack pointer at entry) leaves its caller chain, the
// return addresses from frame 1 on, for the functions without an skb that
// it calls (--filter-non-skb-funcs). An untracked skb leaves track id 0:
// a function running in its processing is not attributed to a tracked skb
// further down the stack, nor to one that went the same way before.
static __always_inline void chain_store(struct scratch *s, long n, u64 sp, u64 skb, u64 track_id)
{
	OPAQUE(n);
	if (n < 0 || n > OUT_STACK_BYTES) {
		count(COUNTER_CHAIN_LOST);
		return;
	}
	if (!chain_key_at(s, bpf_get_smp_processor_id(), 1, (u64)n / 8))
		return;
	s->val.track_id = track_id;
	s->val.skb = skb;
	s->val.sp = sp;
	bpf_map_update_elem(&chain, &s->key, &s->val, BPF_ANY);
}

// Decides whether skb passes: tracked skbs always pass, others go through
// the filters. Returns the track id through *track (0 = untracked) and the
// tracked flag.
static __always_inline bool skb_pass(void *ctx, struct sk_buff *skb, struct sk_buff *k, struct scratch *s,
				     struct skb_data *d, bool *have_data)
{
	u64 addr = (u64)skb;
	u64 *tid;

	// The stack id is taken once per event, also for tracked skbs:
	// handle_skb remembers it for the event's track id.
	if (CFG.track_stackid)
		s->ev.stack_id = get_stackid(ctx);
	if (CFG.track_skb) {
		tid = bpf_map_lookup_elem(&track_skb, &addr);
		if (tid) {
			s->ev.track_id = *tid;
			s->ev.flags |= F_TRACKED;
			return true;
		}
	}
	if (CFG.filter_netns && skb_netns(k) != CFG.netns)
		goto unmatched;
	if (CFG.filter_mark && (k->mark & CFG.mark_mask) != CFG.mark)
		goto unmatched;
	if (CFG.filter_ifindex) {
		struct net_device *dev = k->dev;

		if (BPF_CORE_READ(dev, ifindex) != CFG.ifindex)
			goto unmatched;
	}
	if (CFG.filter_skb_expr && !filter_skb_expr(skb))
		goto unmatched;
	if (CFG.filter_pcap) {
		// The located packet serves the payload too (have_data).
		*have_data = skb_locate(k, d);
		if (!*have_data || !run_pcap(d))
			goto unmatched;
	}
	if (CFG.filter_tunnel && !run_tunnel_pcap(k))
		goto unmatched;
	if (CFG.track_skb || CFG.track_stackid) {
		u64 id = next_track_id();

		s->ev.track_id = id;
		if (CFG.track_skb && bpf_map_update_elem(&track_skb, &addr, &id, BPF_ANY))
			count(COUNTER_TRACK_FULL);
	}
	return true;

unmatched:
	// An skb that fails the filters passes as tracked when its stack is
	// one of a tracked skb's (--filter-track-skb-by-stackid). The stack is
	// looked up only now: an skb that matches by itself gets its own track
	// id, not the one of the last skb that went the same way.
	if (CFG.track_stackid) {
		if (s->ev.stack_id >= 0) {
			u32 sid = s->ev.stack_id;

			tid = bpf_map_lookup_elem(&track_stack, &sid);
			if (tid) {
				s->ev.track_id = *tid;
				s->ev.flags |= F_TRACKED;
				if (CFG.track_skb)
					bpf_map_update_elem(&track_skb, &addr, tid, BPF_ANY);
				return true;
			}
		}
	}
	return false;
}

// skb_copy_in copies the sk_buff at skb into s->skb and returns the copy
// (a failed read leaves zeros, what reading each field would have given).
static __always_inline struct sk_buff *skb_copy_in(struct scratch *s, struct sk_buff *skb)
{
	u64 n = bpf_core_type_size(struct sk_buff);

	if (n > SKB_COPY_MAX)
		n = SKB_COPY_MAX;
	OPAQUE(n);
	if (n > SKB_COPY_MAX)
		n = SKB_COPY_MAX;
	bpf_probe_read_kernel(s->skb, n, skb);
	return (struct sk_buff *)s->skb;
}

// fill_skb fills the fields of ev that describe skb (k: its copy); the
// tuple unless have_tuple.
static __always_inline void fill_skb(struct event *ev, struct sk_buff *skb, struct sk_buff *k, bool have_tuple)
{
	struct net_device *dev = k->dev;

	ev->skb = (u64)skb;
	if (!(ABLATE & ABL_TUPLE) && !have_tuple)
		skb_tuple(k, ev);
	if (ABLATE & ABL_META)
		return;
	ev->mark = k->mark;
	ev->len = k->len;
	ev->protocol = k->protocol;
	ev->pkt_type = BPF_CORE_READ_BITFIELD(k, pkt_type);
	ev->ifindex = BPF_CORE_READ(dev, ifindex);
	ev->mtu = BPF_CORE_READ(dev, mtu);
	ev->netns = skb_netns(k);
}

// handle_skb is the whole probe path for one sk_buff. sp: the stack pointer
// at the entry of the probed skb function (kprobes), 0 for the other
// callers (they leave no caller chain, see chain_store).
static __always_inline int handle_skb(void *ctx, struct sk_buff *skb, u32 probe_id,
				      u64 caller, u16 flags, s64 retval, u32 drop_reason, u64 sp)
{
	struct scratch *s;
	struct sk_buff *k;
	struct skb_data d;
	bool have_data = false;
	bool have_tuple = false;
	u64 addr = (u64)skb;
	u32 pos = 0;
	u32 got = 0;
	long n = -1;

	if (ABLATE & ABL_BODY)
		return 0;
	if (!skb) {
		count(COUNTER_NULL_SKB);
		return 0;
	}
	s = scratch_get();
	if (!s)
		return 0;
	s->ev.stack_id = -1;
	k = skb_copy_in(s, skb);
	if (!skb_pass(ctx, skb, k, s, &d, &have_data)) {
		if (CFG.track_non_skb && sp)
			chain_store(s, stack_take(ctx, s), sp, addr, 0);
		return 0;
	}
	if (ABLATE & ABL_POST)
		return 0;

	fill_common(&s->ev, probe_id, flags);
	s->ev.caller = caller;
	s->ev.retval = retval;
	s->ev.drop_reason = drop_reason;

	// A tracked skb skipped the filters: locate its packet now. Its
	// first bytes are read once (pkt_read) for the tuple, the payload
	// hash and the payload.
	if (((CFG.snaplen && !(ABLATE & ABL_PAYLOAD)) || CFG.trigger_pcap) && !have_data)
		have_data = skb_locate(k, &d);
	if (CFG.trigger_pcap && have_data && run_trigger_pcap(&d))
		s->ev.flags |= F_TRIGGER;
	if (CFG.snaplen && have_data && !(ABLATE & ABL_PAYLOAD))
		got = pkt_read(s, &d);
	if (got && !(ABLATE & ABL_TUPLE))
		have_tuple = pkt_tuple(s, got, &d, &s->ev);
	fill_skb(&s->ev, skb, k, have_tuple);

	if (CFG.track_stackid && s->ev.stack_id >= 0 && s->ev.track_id) {
		u32 sid = s->ev.stack_id;

		bpf_map_update_elem(&track_stack, &sid, &s->ev.track_id, BPF_ANY);
	}

	if (got) {
		u64 *slot = NULL;
		u64 tag = 0;
		bool put = true;

		if (!CFG.payload_every) {
			tag = (pkt_hash(s, got, &d) ^ (addr * 0x9E3779B97F4A7C15ULL)) | 1;
			slot = payload_slot(addr);
			put = !slot || *slot != tag;
		}
		if (put) {
			u64 n = CFG.snaplen;

			if (n > got)
				n = got;
			s->ev.payload_len = n;
			s->ev.orig_len = d.orig;
			if (d.l3)
				s->ev.payload_flags |= PAYLOAD_L3;
			pos = n;
			if (slot)
				*slot = tag;
		}
	}
	if (CFG.output_skb)
		pos = put_raw(s, pos, skb, bpf_core_type_size(struct sk_buff), &s->ev.skb_len);
	if (CFG.output_shinfo) {
		void *head = k->head;
		u32 end = k->end;

		if (head)
			pos = put_raw(s, pos, head + end,
				      bpf_core_type_size(struct skb_shared_info), &s->ev.shinfo_len);
	}
	if (CFG.output_cb)
		pos = put_raw(s, pos, (void *)skb + bpf_core_field_offset(struct sk_buff, cb),
			      CB_SIZE, &s->ev.cb_len);
	pos = put_meta(s, pos, skb, 0, CFG.meta_count, &s->ev.meta_len);
	pos = put_bpfmap(s, pos);
	if (CFG.output_stack || (CFG.track_non_skb && sp))
		n = stack_take(ctx, s);
	pos = put_taken_stack(s, pos, n);
	emit(s, pos);
	if (CFG.track_non_skb && sp)
		chain_store(s, n, sp, addr, s->ev.track_id);

	if (CFG.kfree_skbmem_probe_id && probe_id == CFG.kfree_skbmem_probe_id) {
		bpf_map_delete_elem(&track_skb, &addr);
		payload_forget(addr);
	}
	return 0;
}

static __always_inline u64 kprobe_caller(struct pt_regs *ctx)
{
	u64 ret = 0;

	if (!CFG.output_caller)
		return 0;
	bpf_probe_read_kernel(&ret, sizeof(ret), (void *)PT_REGS_SP(ctx));
	return ret;
}

#define KPROBE_SKB(X)                                                            \
	SEC("kprobe/skb_" #X)                                                    \
	int kprobe_skb_##X(struct pt_regs *ctx)                                  \
	{                                                                        \
		u32 id = kprobe_cookie(ctx);                                       \
		if (!id)                                                           \
			return 0;                                                  \
		return handle_skb(ctx, (struct sk_buff *)PT_REGS_PARM##X(ctx), id, \
				  kprobe_caller(ctx), 0, 0, 0, PT_REGS_SP(ctx));       \
	}                                                                        \
	SEC("kprobe.multi/skb_" #X)                                              \
	int kprobe_multi_skb_##X(struct pt_regs *ctx)                            \
	{                                                                        \
		u32 id = kprobe_cookie(ctx);                                       \
		if (!id)                                                           \
			return 0;                                                  \
		return handle_skb(ctx, (struct sk_buff *)PT_REGS_PARM##X(ctx), id, \
				  kprobe_caller(ctx), 0, 0, 0, PT_REGS_SP(ctx));       \
	}

KPROBE_SKB(1)
KPROBE_SKB(2)
KPROBE_SKB(3)
KPROBE_SKB(4)
KPROBE_SKB(5)

// kprobe_multi_skb_any is kprobe_multi_skb_N for every N on one
// kprobe.multi link (the functions fentry cannot take): the cookie carries
// the skb argument position N above the probe id, so one program is
// verified instead of one per position.
SEC("kprobe.multi/skb_any")
int kprobe_multi_skb_any(struct pt_regs *ctx)
{
	u64 cookie = bpf_get_attach_cookie(ctx);
	u32 id = (ABLATE & ABL_COOKIE) ? 1 : (u32)cookie;
	u64 skb;

	switch (cookie >> 32) {
	case 1:
		skb = PT_REGS_PARM1(ctx);
		break;
	case 2:
		skb = PT_REGS_PARM2(ctx);
		break;
	case 3:
		skb = PT_REGS_PARM3(ctx);
		break;
	case 4:
		skb = PT_REGS_PARM4(ctx);
		break;
	case 5:
		skb = PT_REGS_PARM5(ctx);
		break;
	default:
		return 0;
	}
	if (!id)
		return 0;
	return handle_skb(ctx, (struct sk_buff *)skb, id, kprobe_caller(ctx), 0, 0, 0, PT_REGS_SP(ctx));
}

// frame_check returns fp + 16 when fp is an x86 frame of the trampoline:
// its return address (at fp + 8) lies a few bytes after the start ip of
// the traced function (the call into the trampoline); else 0.
static __always_inline u64 frame_check(u64 fp, u64 ip)
{
	u64 ret = 0;

	if (!fp || bpf_probe_read_kernel(&ret, sizeof(ret), (void *)(fp + 8)) || ret <= ip || ret - ip > 16)
		return 0;
	return fp + 16;
}

// fentry_frame returns, for an fentry program, the traced function's stack
// pointer at its entry (the address of its return address, what
// PT_REGS_SP gives a kprobe), or 0 when it cannot be found. The
// trampoline saves the arguments on its stack, their count under them
// (ctx[-1]) and its frame right above them (above a return value slot
// when an fexit program shares it): saved frame pointer, return address
// into the traced function, the traced function's return address. Where
// that layout does not hold, the program's own frame pointer (R10 on the
// x86 JIT, unless the program runs on a private stack) points at the
// trampoline's. Every candidate is checked (frame_check).
static __always_inline u64 fentry_frame(void *ctx)
{
	u64 ip = bpf_get_func_ip(ctx);
	u64 n = bpf_get_func_arg_cnt(ctx);
	void *r10;
	void *a;
	u64 fp = 0;
	u64 sp;

	if (n <= 12) {
		a = ctx + n * 8;
		// The address as a number (a copy the verifier does not track).
		bpf_probe_read_kernel(&fp, sizeof(fp), &a);
		if ((sp = frame_check(fp, ip)))
			return sp;
		if ((sp = frame_check(fp + 8, ip)))
			return sp;
	}
	asm volatile("%0 = r10" : "=r"(r10));
	fp = 0;
	if (bpf_probe_read_kernel(&fp, sizeof(fp), r10))
		return 0;
	return frame_check(fp, ip);
}

// fentry_skb_N: the same as kprobe_skb_N through an fentry trampoline (one
// program per function, or one per N on a tracing multi-link); ctx is the
// array of the traced function's arguments, read with bpf_get_func_arg
// (the verifier inlines it; a multi-link program has no prototype to read
// ctx by). The frame is looked for only when the caller or the caller
// chains need it.
#define FENTRY_SKB(X)                                                            \
	SEC("fentry/skb_" #X)                                                    \
	int fentry_skb_##X(u64 *ctx)                                             \
	{                                                                        \
		u64 sp = 0;                                                      \
		u64 caller = 0;                                                  \
		u64 skb = 0;                                                     \
                                                                                 \
		if (CFG.output_caller || CFG.track_non_skb)                      \
			sp = fentry_frame(ctx);                                  \
		if (CFG.output_caller && sp)                                     \
			bpf_probe_read_kernel(&caller, sizeof(caller), (void *)sp); \
		bpf_get_func_arg(ctx, X - 1, &skb);                              \
		return handle_skb(ctx, (struct sk_buff *)skb,                    \
				  (ABLATE & ABL_COOKIE) ? 1 : bpf_get_attach_cookie(ctx), \
				  caller, 0, 0, 0, sp);                          \
	}

FENTRY_SKB(1)
FENTRY_SKB(2)
FENTRY_SKB(3)
FENTRY_SKB(4)
FENTRY_SKB(5)

// fentry_skb_any is fentry_skb_N for every N on one tracing multi-link:
// the cookie carries the skb argument position N above the probe id, so
// one program is verified instead of five.
SEC("fentry/skb_any")
int fentry_skb_any(u64 *ctx)
{
	u64 cookie = bpf_get_attach_cookie(ctx);
	u32 n = cookie >> 32;
	u64 sp = 0;
	u64 caller = 0;
	u64 skb = 0;

	if (CFG.output_caller || CFG.track_non_skb)
		sp = fentry_frame(ctx);
	if (CFG.output_caller && sp)
		bpf_probe_read_kernel(&caller, sizeof(caller), (void *)sp);
	if (n < 1 || n > 5 || bpf_get_func_arg(ctx, n - 1, &skb))
		return 0;
	return handle_skb(ctx, (struct sk_buff *)skb, (ABLATE & ABL_COOKIE) ? 1 : (u32)cookie,
			  caller, 0, 0, 0, sp);
}

// Functions without an skb argument (--filter-non-skb-funcs): an event is
// emitted when the function runs within the frame of a traced skb function
// whose skb is tracked, on the skb's behalf: the innermost such frame in
// the current stack. A callee's stack holds its caller's stack from the
// caller's frame 1 on, so the caller chain an skb function left
// (chain_store) shows up at some frame k >= 2 of this function's stack.
// The frame must still be live, on the same stack as this one: its stack
// pointer above this one's by less than a stack's size, and still holding
// the return address that starts the chain (an entry of a frame that
// returned, or of another task's or an interrupted context's stack, is not
// taken). An untracked skb's frame found first ends the search: the
// function runs for that skb.
static __always_inline int handle_non_skb(struct pt_regs *ctx)
{
	struct scratch *s;
	struct chain_val *v;
	u64 sp = PT_REGS_SP(ctx);
	u64 ret;
	u32 cpu;
	u32 nips;
	long n;

	if (!CFG.track_non_skb)
		return 0;
	s = scratch_get();
	if (!s)
		return 0;
	n = stack_take(ctx, s);
	if (n < 0) {
		count(COUNTER_CHAIN_LOST);
		return 0;
	}
	nips = (u64)n / 8;
	cpu = bpf_get_smp_processor_id();
	for (u32 k = 2; k < OUT_STACK_DEPTH; k++) {
		if (!chain_key_at(s, cpu, k, nips))
			return 0;
		v = bpf_map_lookup_elem(&chain, &s->key);
		if (!v)
			continue;
		s->val = *v;
		if (s->val.sp <= sp || s->val.sp - sp >= STACK_SPAN)
			continue;
		if (bpf_probe_read_kernel(&ret, sizeof(ret), (void *)s->val.sp) || ret != s->key.ips[0])
			continue;
		if (!s->val.track_id || !s->val.skb)
			return 0;
		s->ev.track_id = s->val.track_id;
		s->ev.stack_id = -1;
		fill_common(&s->ev, kprobe_cookie(ctx), F_NON_SKB | F_TRACKED);
		if (!s->ev.probe_id)
			return 0;
		s->ev.caller = kprobe_caller(ctx);
		fill_skb(&s->ev, (struct sk_buff *)s->val.skb, skb_copy_in(s, (struct sk_buff *)s->val.skb), false);
		emit(s, put_taken_stack(s, 0, n));
		return 0;
	}
	return 0;
}

SEC("kprobe/non_skb")
int kprobe_non_skb(struct pt_regs *ctx)
{
	return handle_non_skb(ctx);
}

SEC("kprobe.multi/non_skb")
int kprobe_multi_non_skb(struct pt_regs *ctx)
{
	return handle_non_skb(ctx);
}

// kfree_skbmem ends an skb's life: forget its tracking state. Attached only
// when kfree_skbmem is not itself a traced probe (handle_skb does the same
// for it then).
SEC("kprobe/kfree_skbmem")
int kprobe_kfree_skbmem(struct pt_regs *ctx)
{
	u64 addr = PT_REGS_PARM1(ctx);

	bpf_map_delete_elem(&track_skb, &addr);
	payload_forget(addr);
	return 0;
}

// Drop reasons: the skb:kfree_skb tracepoint (args: skb, location, reason).
SEC("raw_tp/kfree_skb")
int raw_tp_kfree_skb(struct bpf_raw_tracepoint_args *ctx)
{
	struct sk_buff *skb = (struct sk_buff *)ctx->args[0];
	u64 location = ctx->args[1];
	u32 reason = 0;
	u16 flags = 0;

	// The drop event goes through the same filters and tracking as any
	// other probe hit. A kernel whose tracepoint has no reason argument
	// refuses to attach a program that reads it: the read is pruned.
	if (!CFG.no_drop_reason) {
		reason = ctx->args[2];
		flags = F_DROP_REASON;
	}
	return handle_skb(ctx, skb, CFG.drop_probe_id, location, flags, 0, reason, 0);
}

// Clone/copy tracking: the new skb inherits the original's track id.
static __always_inline void track_copy(struct sk_buff *from, struct sk_buff *to)
{
	u64 a = (u64)from;
	u64 b = (u64)to;
	u64 *tid;

	if (!to || !CFG.track_skb)
		return;
	tid = bpf_map_lookup_elem(&track_skb, &a);
	if (tid)
		bpf_map_update_elem(&track_skb, &b, tid, BPF_ANY);
}

SEC("fexit/skb_clone")
int BPF_PROG(fexit_skb_clone, struct sk_buff *skb, gfp_t gfp, struct sk_buff *ret)
{
	track_copy(skb, ret);
	return 0;
}

SEC("fexit/skb_copy")
int BPF_PROG(fexit_skb_copy, struct sk_buff *skb, gfp_t gfp, struct sk_buff *ret)
{
	track_copy(skb, ret);
	return 0;
}

SEC("fexit/__pskb_copy_fclone")
int BPF_PROG(fexit_pskb_copy_fclone, struct sk_buff *skb, int headroom, gfp_t gfp, bool fclone,
	     struct sk_buff *ret)
{
	track_copy(skb, ret);
	return 0;
}

SEC("fexit/skb_copy_expand")
int BPF_PROG(fexit_skb_copy_expand, struct sk_buff *skb, int newheadroom, int newtailroom,
	     gfp_t gfp, struct sk_buff *ret)
{
	track_copy(skb, ret);
	return 0;
}

// The same by kprobe + kretprobe on each of the four functions (all take
// the source skb first): the entry remembers a tracked source per task, the
// return links the result. A return whose result is not as long as the
// remembered source belongs to another call (an interrupt on the same task
// cloning an untracked skb) and leaves the entry alone. A task's entry
// found still pending (an interrupt on the same task cloned a tracked skb
// too, or a return was missed) loses that link: counted.
SEC("kprobe/skb_copy_entry")
int kprobe_skb_copy_entry(struct pt_regs *ctx)
{
	u64 skb = PT_REGS_PARM1(ctx);
	u64 task = bpf_get_current_pid_tgid();

	if (!CFG.track_skb || !skb || !bpf_map_lookup_elem(&track_skb, &skb))
		return 0;
	if (bpf_map_update_elem(&copy_src, &task, &skb, BPF_NOEXIST)) {
		count(COUNTER_COPY_LOST);
		bpf_map_update_elem(&copy_src, &task, &skb, BPF_ANY);
	}
	return 0;
}

SEC("kretprobe/skb_copy_return")
int kretprobe_skb_copy_return(struct pt_regs *ctx)
{
	u64 task = bpf_get_current_pid_tgid();
	u64 *src = bpf_map_lookup_elem(&copy_src, &task);
	struct sk_buff *to = (struct sk_buff *)PT_REGS_RC(ctx);
	u64 from;

	if (!src)
		return 0;
	from = *src;
	if (to && BPF_CORE_READ(to, len) != BPF_CORE_READ((struct sk_buff *)from, len))
		return 0;
	bpf_map_delete_elem(&copy_src, &task);
	track_copy((struct sk_buff *)from, to);
	return 0;
}

// tc programs (--filter-trace-tc): entry and verdict. The tracer loads one
// copy per target program with CFG.prog_probe_id set to its probe id (the
// kernel cannot attach a cookie to fentry on a BPF program).
static __always_inline void set_cur_prog(u64 ptr, u64 xdp)
{
	u32 zero = 0;
	struct prog_ctx *c;

	if (!CFG.track_bpf_helpers && !CFG.output_bpfmap)
		return;
	c = bpf_map_lookup_elem(&cur_prog, &zero);
	if (c) {
		c->ptr = ptr;
		c->xdp = xdp;
	}
}

// The entry programs record their event before they publish the running
// program: the helpers they call themselves (bpf_ktime_get_ns,
// bpf_ringbuf_output, ...) would otherwise be reported as the traced
// program's, from a nested run that reuses the per-CPU scratch buffer.
// tc_skb reads the traced tc program's skb argument as a plain number: the
// verifier types the BPF_PROG argument as a kernel pointer and refuses the
// arithmetic handle_skb does on the address (payload slot hash, tag).
static __always_inline struct sk_buff *tc_skb(u64 *ctx)
{
	u64 a = 0;

	bpf_probe_read_kernel(&a, sizeof(a), &ctx[0]);
	return (struct sk_buff *)a;
}

SEC("fentry/tc")
int BPF_PROG(fentry_tc)
{
	struct sk_buff *skb = tc_skb(ctx);

	handle_skb(ctx, skb, CFG.prog_probe_id, 0, 0, 0, 0, 0);
	set_cur_prog((u64)skb, 0);
	return 0;
}

SEC("fexit/tc")
int BPF_PROG(fexit_tc, struct sk_buff *unused, int verdict)
{
	set_cur_prog(0, 0);
	return handle_skb(ctx, tc_skb(ctx), CFG.prog_probe_id, 0, F_EXIT | F_RETVAL, verdict, 0, 0);
}

// handle_xdp is the probe path for an xdp_buff (--filter-trace-xdp).
static __always_inline int handle_xdp(void *ctx, struct xdp_buff *xdp, u32 probe_id, u16 flags,
				      s64 retval)
{
	struct scratch *s;
	void *data;
	void *data_end;
	u32 len;
	u32 pos = 0;

	if (!xdp)
		return 0;
	data = BPF_CORE_READ(xdp, data);
	data_end = BPF_CORE_READ(xdp, data_end);
	len = data_end > data ? data_end - data : 0;

	s = scratch_get();
	if (!s)
		return 0;
	s->ev.stack_id = -1;
	s->ev.netns = BPF_CORE_READ(xdp, rxq, dev, nd_net.net, ns.inum);
	s->ev.ifindex = BPF_CORE_READ(xdp, rxq, dev, ifindex);
	if (CFG.filter_netns && s->ev.netns != CFG.netns)
		return 0;
	if (CFG.filter_ifindex && s->ev.ifindex != CFG.ifindex)
		return 0;
	if (CFG.filter_xdp_expr && !filter_xdp_expr(xdp))
		return 0;
	if (CFG.filter_pcap &&
	    !filter_pcap_l2(data, data + (len < PCAP_BOUND ? len : PCAP_BOUND)))
		return 0;

	fill_common(&s->ev, probe_id, flags | F_XDP);
	if (CFG.trigger_pcap &&
	    trigger_pcap_l2(data, data + (len < PCAP_BOUND ? len : PCAP_BOUND)))
		s->ev.flags |= F_TRIGGER;
	s->ev.skb = (u64)xdp;
	s->ev.retval = retval;
	s->ev.len = len;
	s->ev.mtu = BPF_CORE_READ(xdp, rxq, dev, mtu);
	if (CFG.snaplen && len) {
		struct skb_data d = {.start = data, .linear = len, .orig = len, .l3 = false};

		pos = put_payload(s, pos, &d);
	}
	pos = put_meta(s, pos, xdp, MAX_META, CFG.xdp_meta_count, &s->ev.xdp_meta_len);
	pos = put_bpfmap(s, pos);
	pos = put_stack(ctx, s, pos);
	emit(s, pos);
	return 0;
}

SEC("fentry/xdp")
int BPF_PROG(fentry_xdp, struct xdp_buff *xdp)
{
	handle_xdp(ctx, xdp, CFG.prog_probe_id, 0, 0);
	set_cur_prog((u64)xdp, 1);
	return 0;
}

SEC("fexit/xdp")
int BPF_PROG(fexit_xdp, struct xdp_buff *xdp, int verdict)
{
	set_cur_prog(0, 0);
	return handle_xdp(ctx, xdp, CFG.prog_probe_id, F_EXIT | F_RETVAL, verdict);
}

// BPF helpers (--filter-track-bpf-helpers): a helper called by a traced tc
// or XDP program reports on that program's skb / xdp_buff.
static __always_inline int handle_helper(struct pt_regs *ctx)
{
	u32 zero = 0;
	struct prog_ctx *c = bpf_map_lookup_elem(&cur_prog, &zero);
	u32 id;

	if (!c || !c->ptr)
		return 0;
	id = kprobe_cookie(ctx);
	if (!id)
		return 0;
	if (c->xdp)
		return handle_xdp(ctx, (struct xdp_buff *)c->ptr, id, 0, 0);
	return handle_skb(ctx, (struct sk_buff *)c->ptr, id, kprobe_caller(ctx), 0, 0, 0, 0);
}

SEC("kprobe/bpf_helper")
int kprobe_bpf_helper(struct pt_regs *ctx)
{
	return handle_helper(ctx);
}

SEC("kprobe.multi/bpf_helper")
int kprobe_multi_bpf_helper(struct pt_regs *ctx)
{
	return handle_helper(ctx);
}

// --output-bpfmap, part 2: map operations of the traced tc/XDP programs.
// The tracer attaches these to the kernel's map implementations
// (htab_map_update_elem, __htab_map_lookup_elem, array_map_update_elem,
// ...; the verifier turns a program's helper calls into direct calls to
// them, or inlines them: inlined lookups, e.g. of array maps, are not
// seen). The cookie is the probe id | BPFMAP_OP_* << 32 | BPFMAP_C_*.
// An operation belongs to the skb / xdp_buff of the tc/XDP program running
// on this CPU (cur_prog, set by fentry_tc/xdp); operations outside a traced
// program and those on pwru-record's own maps are ignored.
#define BPFMAP_OP_LOOKUP 1
#define BPFMAP_OP_UPDATE 2
#define BPFMAP_OP_DELETE 3
#define BPFMAP_C_HTAB_ELEM (1ULL << 40) // the lookup returns a struct htab_elem *

#define BPFMAP_F_NOT_FOUND (1 << 0)	  // the lookup found no element
#define BPFMAP_F_KEY_ERR (1 << 1)	  // the key could not be read
#define BPFMAP_F_VALUE_ERR (1 << 2)	  // the value could not be read
#define BPFMAP_F_VALUE_PERCPU (1 << 3) // per-CPU value behind an inlined lookup: not recorded

#define BPF_MAP_TYPE_HASH_ 1
#define BPF_MAP_TYPE_LRU_HASH_ 9

// own_map: map operations of pwru-record's own programs (they run inside
// the traced programs' fentry/fexit) are not the traced program's.
static __always_inline bool own_map(void *map)
{
	return map == (void *)&events || map == (void *)&scratch_map || map == (void *)&counters ||
	       map == (void *)&stacks || map == (void *)&track_skb || map == (void *)&track_stack ||
	       map == (void *)&payload_seen || map == (void *)&cur_prog || map == (void *)&track_ids ||
	       map == (void *)&bpfmap_stash || map == (void *)&chain || map == (void *)&copy_src ||
	       map == (void *)&probe_addrs;
}

// bpfmap_read copies min(size, max) bytes of src to rec at off, counting
// truncation and read errors; it returns the bytes copied.
static __always_inline u16 bpfmap_read(struct bpfmap_stash *st, u64 off, void *src, u64 size, u64 max,
				       u8 err_flag)
{
	struct bpfmap_hdr *h = (struct bpfmap_hdr *)st->rec;
	u64 n = size < max ? size : max;

	if (size > max)
		count(COUNTER_BPFMAP_TRUNCATED);
	OPAQUE(n);
	OPAQUE(off);
	if (n == 0 || n > MAX_BPFMAP_VALUE || off > BPFMAP_HDR + MAX_BPFMAP_KEY)
		return 0;
	if (bpf_probe_read_kernel(&st->rec[off], n, src)) {
		h->flags |= err_flag;
		count(COUNTER_BPFMAP_READ_ERR);
		return 0;
	}
	return n;
}

// bpfmap_emit reports the stashed operation as an event of the current
// program's skb / xdp_buff.
static __always_inline int bpfmap_emit(struct pt_regs *ctx, struct prog_ctx *c, struct bpfmap_stash *st,
				       u32 probe_id, u64 caller, u16 flags)
{
	struct bpfmap_hdr *h = (struct bpfmap_hdr *)st->rec;

	st->len = BPFMAP_HDR + h->key_len + h->value_len;
	st->ready = 1;
	if (c->xdp)
		handle_xdp(ctx, (struct xdp_buff *)c->ptr, probe_id, flags, 0);
	else
		handle_skb(ctx, (struct sk_buff *)c->ptr, probe_id, caller, flags, 0, 0, 0);
	st->ready = 0;
	return 0;
}

static __always_inline int handle_bpfmap_entry(struct pt_regs *ctx)
{
	u32 zero = 0;
	u64 cookie;
	u8 op;
	struct bpf_map *map = (struct bpf_map *)PT_REGS_PARM1(ctx);
	struct prog_ctx *c = bpf_map_lookup_elem(&cur_prog, &zero);
	struct bpfmap_stash *st;
	struct bpfmap_hdr *h;

	if (!c || !c->ptr || !map || own_map(map))
		return 0;
	cookie = kprobe_cookie(ctx);
	if (!cookie)
		return 0;
	op = cookie >> 32;
	st = bpf_map_lookup_elem(&bpfmap_stash, &zero);
	if (!st)
		return 0;
	h = (struct bpfmap_hdr *)st->rec;
	__builtin_memset(h, 0, sizeof(*h));
	st->cookie = 0;
	h->id = BPF_CORE_READ(map, id);
	h->map_type = BPF_CORE_READ(map, map_type);
	h->key_size = BPF_CORE_READ(map, key_size);
	h->value_size = BPF_CORE_READ(map, value_size);
	BPF_CORE_READ_INTO(&h->name, map, name);
	h->op = op;
	h->key_len = bpfmap_read(st, BPFMAP_HDR, (void *)PT_REGS_PARM2(ctx), h->key_size, MAX_BPFMAP_KEY,
				 BPFMAP_F_KEY_ERR);
	if (op == BPFMAP_OP_LOOKUP) {
		// The value is known when the function returns.
		st->cookie = cookie;
		return 0;
	}
	if (op == BPFMAP_OP_UPDATE) {
		h->update_flags = PT_REGS_PARM4(ctx);
		h->value_len = bpfmap_read(st, BPFMAP_HDR + h->key_len, (void *)PT_REGS_PARM3(ctx),
					   h->value_size, MAX_BPFMAP_VALUE, BPFMAP_F_VALUE_ERR);
	}
	return bpfmap_emit(ctx, c, st, (u32)cookie, kprobe_caller(ctx), 0);
}

static __always_inline int handle_bpfmap_return(struct pt_regs *ctx)
{
	u32 zero = 0;
	u64 cookie;
	struct prog_ctx *c = bpf_map_lookup_elem(&cur_prog, &zero);
	struct bpfmap_stash *st;
	struct bpfmap_hdr *h;
	u64 v = PT_REGS_RC(ctx);

	if (!c || !c->ptr)
		return 0;
	st = bpf_map_lookup_elem(&bpfmap_stash, &zero);
	if (!st)
		return 0;
	// A return without the matching entry (entry filtered out, or an
	// inner lookup already reported) is ignored. Without attach cookies
	// the pending lookup is this return's by nesting: calls on one CPU
	// return innermost first, and an inner lookup's return clears it.
	cookie = CFG.no_attach_cookie ? st->cookie : bpf_get_attach_cookie(ctx);
	if (!cookie || st->cookie != cookie)
		return 0;
	st->cookie = 0;
	h = (struct bpfmap_hdr *)st->rec;
	if (!v) {
		h->flags |= BPFMAP_F_NOT_FOUND;
	} else if (cookie & BPFMAP_C_HTAB_ELEM) {
		// __htab_map_lookup_elem returns the element; the value follows
		// the key, 8-byte aligned (what htab_map_gen_lookup adds inline).
		if (h->map_type == BPF_MAP_TYPE_HASH_ || h->map_type == BPF_MAP_TYPE_LRU_HASH_) {
			if (bpf_core_field_exists(struct htab_elem, key))
				v += bpf_core_field_offset(struct htab_elem, key) + ((h->key_size + 7) & ~7);
			h->value_len = bpfmap_read(st, BPFMAP_HDR + h->key_len, (void *)v, h->value_size,
						   MAX_BPFMAP_VALUE, BPFMAP_F_VALUE_ERR);
		} else {
			h->flags |= BPFMAP_F_VALUE_PERCPU;
		}
	} else {
		h->value_len = bpfmap_read(st, BPFMAP_HDR + h->key_len, (void *)v, h->value_size,
					   MAX_BPFMAP_VALUE, BPFMAP_F_VALUE_ERR);
	}
	return bpfmap_emit(ctx, c, st, (u32)cookie, 0, F_EXIT);
}

SEC("kprobe/bpfmap")
int kprobe_bpfmap(struct pt_regs *ctx)
{
	return handle_bpfmap_entry(ctx);
}

SEC("kprobe.multi/bpfmap")
int kprobe_multi_bpfmap(struct pt_regs *ctx)
{
	return handle_bpfmap_entry(ctx);
}

SEC("kretprobe/bpfmap")
int kretprobe_bpfmap(struct pt_regs *ctx)
{
	return handle_bpfmap_return(ctx);
}

SEC("kretprobe.multi/bpfmap")
int kretprobe_multi_bpfmap(struct pt_regs *ctx)
{
	return handle_bpfmap_return(ctx);
}
