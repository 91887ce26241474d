// Package analyze turns a pwru-record capture into answers, offline and on
// any operating system: pwru's live output ([Print]), a summary ([Info]),
// skb journeys ([Paths]), statistics ([Stats]), a pcapng export
// ([WritePcap]), the difference between two runs ([Diff]) and a smaller
// capture holding only the interesting skbs ([Slice]), and the rows of
// a Parquet dataset ([Export]; written by analyze/export).
//
// Every address is symbolized with the capture's own kallsyms and every
// struct, enum and drop reason is rendered with the capture's own BTF
// (github.com/cilium/ebpf/btf), never the analyzing machine's kernel.
//
// # Skbs and journeys
//
// Events are streamed in time order; an skb's lifetime ends at
// kfree_skbmem (the sk_buff went back to the slab), shortly after its fate
// is known (consumed, dropped, freed) when kfree_skbmem is not traced, or
// when it stays silent for [Filter.Window] (default 1s). Per-skb state is
// released then, so memory is bounded by the number of skbs alive at once,
// not by the size of the capture. A later event at the same address
// starts a new journey. Only the skb predicates' first pass keeps
// something per skb of the whole capture: one bit. [Diff] reads both
// captures side by side and keeps a compact record (flow, packet identity,
// path id) only for the packets still waiting for their partner, within
// windows counted in packets.
//
// # Filters
//
// [Filter] is shared by all commands. Its values are typed (a [Mark], the
// skb address, [TimeBound]s); the names in it (functions, interfaces,
// netns, drop reasons) are resolved against the capture, and one that does
// not fit is a [*FilterError] naming the field. Event predicates select events;
// skb predicates (dropped, drop reason, pcap expression on stored
// payloads) select whole skbs and need a first pass over the capture that
// keeps one bit per skb.
//
// # JSON
//
// [Print] with PrintOptions.JSON writes one object per line with pwru's
// field names; JSON.md in this directory lists every field of every
// command's JSON output. Field names are stable: new fields may be added,
// existing ones are not renamed or retyped.
//
// Nothing here prints to os.Stdout: every command takes an io.Writer.
package analyze
