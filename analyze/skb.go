package analyze

import (
	"strings"

	"github.com/pwru-record/pwru-record/format"
)

// Fate is what finally happened to an skb.
type Fate uint8

// Fates, in increasing order of precedence.
const (
	// FateUnknown: the capture ends (or the skb went quiet) before any
	// freeing function was seen.
	FateUnknown Fate = iota
	// FateFreed: the skb was freed (kfree_skbmem, __kfree_skb) without a
	// consume or drop event.
	FateFreed
	// FateDelivered: the skb was consumed (consume_skb, SKB_CONSUMED,
	// skb_consume_udp), or it was queued to a socket
	// (__udp_enqueue_schedule_skb, sock_queue_rcv_skb, tcp_queue_rcv) and
	// then freed without a drop, or the capture ended while it waited
	// there: the normal end of a packet that reached its destination.
	FateDelivered
	// FateDropped: kfree_skb / kfree_skb_reason / sk_skb_reason_drop with
	// a drop reason.
	FateDropped
)

// String returns "unknown", "freed", "delivered" or "dropped".
func (f Fate) String() string {
	switch f {
	case FateFreed:
		return "freed"
	case FateDelivered:
		return "delivered"
	case FateDropped:
		return "dropped"
	}
	return "unknown"
}

// probeClass says what a probed function means for an skb's fate. The
// classes that change nothing without a drop reason come first: observe
// tests cl > classRelease.
type probeClass uint8

const (
	classNone    probeClass = iota
	classRelease            // part of the freeing path (does not start a new skb)
	classFreed              // final free
	classConsume            // consumed (delivered)
	classDrop               // dropped
	classQueue              // queued to a socket: a later plain free is a delivery
)

// classify a function by name.
func classifyName(name string) probeClass {
	switch name {
	case "kfree_skb_reason", "sk_skb_reason_drop", "kfree_skb", "kfree_skb_list_reason", "__kfree_skb_reason":
		return classDrop
	case "consume_skb", "napi_consume_skb", "__consume_stateless_skb", "dev_consume_skb_any", "skb_consume_udp":
		return classConsume
	case "__udp_enqueue_schedule_skb", "sock_queue_rcv_skb", "sock_queue_rcv_skb_reason", "__sock_queue_rcv_skb", "tcp_queue_rcv":
		// The kernel put the skb on a socket's receive queue; it is
		// freed plainly (skb_release_data, kfree_skbmem, __kfree_skb)
		// once the application read it.
		return classQueue
	case "kfree_skbmem", "__kfree_skb", "skb_free_head", "__napi_kfree_skb", "kfree_skb_partial", "napi_skb_cache_put":
		// napi_skb_cache_put: the sk_buff goes back to the per-CPU cache
		// (7.2 frees read datagrams so, no kfree_skbmem).
		return classFreed
	}
	if strings.Contains(name, "free") || strings.Contains(name, "release") ||
		strings.Contains(name, "consume") || strings.Contains(name, "destruct") ||
		strings.Contains(name, "drop") || strings.Contains(name, "unref") {
		return classRelease
	}
	return classNone
}

// DefaultWindow is how long (ns) an skb may stay silent before its state is
// dropped and its next event starts a new journey.
const DefaultWindow = 1_000_000_000

// freedLinger is how long (ns) a freed skb's state is kept for the events
// of the freeing path that follow the fate event.
const freedLinger = 10_000_000

// minGCLive is the live-skb count below which no size-triggered sweep runs.
const minGCLive = 1024

// life is one lifetime of an skb address: from its first event to its
// fate. Lifetimes are numbered 1, 2, ... in order of first event, so two
// passes over the same capture number them identically.
type life struct {
	// The fields every event reads or writes come first, within one
	// cache line.
	addr  uint64
	last  uint64
	gen   uint64 // 1 + the generation listing this lifetime (tracker.gens)
	track uint64
	// sel counts the events of this lifetime that passed the filters;
	// selFirst/selLast are their times and selTuple the first valid tuple.
	selLast  uint64
	prevSel  uint64 // selLast before the current event
	events   uint32
	sel      uint32
	fate     Fate
	dead     bool // ended (possibly waiting in the free list)
	queued   bool // reached a socket receive queue
	hasRsn   bool
	pktMatch bool // the skb-level filter verdict accumulated so far
	// tupleFull: selTuple has addresses and ports, so no later tuple
	// replaces it (betterTuple).
	tupleFull bool
	id        uint64
	selTuple  format.Tuple
	selFirst  uint64
	first     uint64
	fateAt    uint64
	reason    uint32
	payload   uint32 // last payload id checked for the pcap filter
	// ext is per-consumer state (paths, diff).
	ext any
	// The size is a multiple of the cache line, so that the first line
	// of every lifetime in a block (tracker.slab) holds its hot fields.
	_ [16]byte
}
