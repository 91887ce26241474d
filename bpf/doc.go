// Package bpf holds the pwru-record kernel program (pwru.c) and its
// bpf2go output. `make generate` rebuilds pwru_x86_bpfel.go and .o from
// pwru.c with clang; the generated files are committed so that building
// the Go code needs no C toolchain.
//
// vmlinux.h was made with `bpftool btf dump file vmlinux format c` from the
// Debian linux-image-6.12.117+deb12-cloud-amd64 kernel. The program only
// reads kernel structures through CO-RE relocations, so the same object
// loads on other kernels (tested: Debian 6.1 and 6.12).
//
// # Programs
//
//   - kprobe_skb_N / kprobe_multi_skb_N (N = 1..5): a kernel function whose
//     Nth argument is a struct sk_buff *, attached as a kprobe or as part of
//     a kprobe.multi link. The attach cookie is the probe id. On a kernel
//     without bpf_get_attach_cookie (Config.NoAttachCookie, probed by the
//     tracer) a kprobe finds its cookie in the hash map probe_addrs by the
//     probed function's address (the instruction pointer minus the one
//     byte of the int3 that a kprobe at a function's entry has passed).
//   - fentry_skb_N (N = 1..5): the same through an fentry trampoline
//     (--backend fentry), one load per function (Config unchanged: the
//     programs share the main collection's .rodata) or one per N on a
//     tracing multi-link; the cookie is the probe id. The caller and the
//     stack pointer at entry (for caller chains) come from the
//     trampoline's frame above the saved arguments (fentry_frame).
//   - fentry_skb_any: fentry_skb_N for every N on a tracing multi-link
//     (the tracer's first choice there: one program for five, loaded in
//     a few instances that share out the functions, see
//     tracer.fentryAnyShards); the cookie is the probe id | N << 32.
//   - kprobe_non_skb / kprobe_multi_non_skb: functions without an skb
//     (--filter-non-skb-funcs); they emit only when they run within the
//     frame of a traced skb function whose skb is tracked (see Caller
//     chains below), as an event of that skb flagged non-skb and tracked.
//   - raw_tp_kfree_skb: the skb:kfree_skb tracepoint, for drop reasons;
//     its probe id is Config.DropProbeId. Where the tracepoint passes no
//     reason (Config.NoDropReason) the read of that argument is pruned
//     (the kernel refuses to attach a program reading past the
//     tracepoint's arguments) and its events carry no reason flag.
//   - kprobe_kfree_skbmem: forgets tracking state when an skb is freed.
//   - fexit_skb_clone, fexit_skb_copy, fexit_pskb_copy_fclone,
//     fexit_skb_copy_expand: a clone or copy inherits the track id.
//   - kprobe_skb_copy_entry / kretprobe_skb_copy_return: the same where
//     the fexit programs cannot attach, as a pair on each of those
//     functions: the entry remembers a tracked source skb per task (map
//     copy_src), the return links the result.
//   - fentry_tc / fexit_tc, fentry_xdp / fexit_xdp: attached to loaded tc
//     and XDP programs (--filter-trace-tc/xdp); one load per target with
//     Config.ProgProbeId = probe id.
//   - kprobe_bpf_helper / kprobe_multi_bpf_helper: BPF helper functions
//     (--filter-track-bpf-helpers); they report the skb or xdp_buff of the
//     tc/XDP program running on the CPU (recorded by fentry_tc/xdp).
//   - kprobe_bpfmap / kprobe_multi_bpfmap and kretprobe_bpfmap /
//     kretprobe_multi_bpfmap (--output-bpfmap): the kernel's BPF map
//     implementations (htab_map_update_elem, __htab_map_lookup_elem, ...);
//     the cookie is probe id | op << 32 (1 lookup, 2 update, 3 delete) |
//     1 << 40 for a lookup returning a struct htab_elem *. An operation of
//     the tc/XDP program running on the CPU (cur_prog) is reported on its
//     skb / xdp_buff with the map operation as the last variable part;
//     lookups are reported at return, with the value found.
//
// Per-CPU counters (map counters, enum counter in pwru.c) count failed
// ring buffer reservations, failed bpf_get_stack calls (--output-stack),
// unreadable payloads, a full tracking map, probe hits with a NULL skb,
// failed bpf_get_stackid calls (--filter-track-skb-by-stackid), clones
// of tracked skbs the kprobe fallback could not link and failed
// bpf_get_stack calls for caller chains (--filter-non-skb-funcs).
//
// # Per-hit cost
//
// handle_skb reads the probed sk_buff once (skb_copy_in) and the first
// max(snaplen, 64) bytes of its packet once, into the payload's place in
// the record (pkt_read): the tuple, the payload hash and the payload come
// from those bytes (the tuple is read from the skb when its headers lie
// beyond them). --payload first keeps, per skb, a tag of the payload last
// recorded in payload_seen, a direct-mapped array (slot by skb address,
// tag = payload hash mixed with the address; emptied at kfree_skbmem): its
// lookup is inlined, and two skbs sharing a slot only record their payload
// again, never lose one.
//
// ABLATE (volatile const, zero unless pwru-record --debug-ablate) leaves
// parts of the probe path out, for the ablation rows of make vmbench -lean:
// the verifier prunes each part whose bit is set (ABL_* in pwru.c).
//
// # Stacks
//
// With --output-stack every record carries its kernel stack, copied by
// bpf_get_stack (at most 50 frames) into the record itself; user space
// deduplicates. The stack trace map "stacks" only produces the stack ids
// that key track_stack (--filter-track-skb-by-stackid); PwruEvent.StackId
// is that id, meaningful in the kernel only. Ids are taken with
// BPF_F_REUSE_STACKID: the id is the stack's hash bucket, so a tracked
// stack always finds its track id again, even when other stacks passed
// through its bucket since (without the flag, the first stack to reach a
// bucket keeps it for the whole recording and later ones fail with EEXIST;
// as ids are taken before filtering, unrelated traffic would fill the map).
// Two stacks in one bucket share a track id.
//
// # Caller chains
//
// With --filter-non-skb-funcs (Config.TrackNonSkb) every kprobe on an skb
// function stores its caller chain in the LRU map "chain": key the CPU and
// the return addresses of frames 1..8 of its stack (fewer at the bottom of
// the stack), value the skb, its track id (0 for an skb that did not pass
// the filters) and the stack pointer at entry. A function called, directly
// or not, from that frame has the same chain in its own stack, starting at
// some frame k >= 2. The non-skb program takes its stack (50 frames) and
// looks the chains up from k = 2 outwards; the first one whose frame is
// still live wins: stack pointer above the non-skb function's by less than
// 16 KiB (same stack, not an interrupted one) and its return address still
// in place. A track id there gives the event (with the skb's fields); 0
// ends the search without one. Not matched: non-skb functions deeper than
// 50 frames below the skb frame's chain, and frames entered through the
// tracepoint or fentry programs (drop reasons, tc/XDP programs, BPF
// helpers), which leave no chain. An indirect call site that calls a
// traced skb function, then a function that is neither, may match the
// first one's chain from the second.
//
// # Record layout
//
// Each ring buffer record is a PwruEvent followed by its variable parts in
// this order, each PwruEvent.*Len bytes long: payload, raw struct sk_buff,
// raw struct skb_shared_info, skb->cb, metadata (8 bytes per field, native
// byte order), XDP metadata (the same for the xdp_buff fields), BPF map
// operation (the blob of
// format/SPEC.md 4.7.1: 48-byte header, at most 128 key and 256 value
// bytes), kernel stack (StackLen bytes: 8-byte return addresses in native
// byte order, innermost first). Protocol, Sport and Dport are in network byte
// order; addresses are raw bytes (4 for IPv4, 16 for IPv6).
//
// # Filter placeholders
//
// The programs call six static __noinline subprograms that
// internal/bpffilter/pcap and internal/bpffilter/skbexpr rewrite before load (see
// DESIGN.md): filter_pcap_l2, filter_pcap_l3, filter_pcap_tunnel_l2,
// filter_pcap_tunnel_l3 (R1 = kernel address of the first byte, R2 = R1 +
// min(linear length, 512)), filter_skb_expr (R1 = struct sk_buff *) and
// filter_xdp_expr (R1 = struct xdp_buff *). They are only called when the
// corresponding Config.Filter* flag is set. The callers use at most 184
// bytes of stack (192 as the verifier counts, in 32-byte steps, of its 512
// per call chain), so an injected body may use up to 256 bytes.
package bpf
