package format

import (
	"cmp"
	"maps"
	"slices"
	"time"
)

// This file turns what the writer buffered into sections: events
// chunks sorted by time, and the reference sections they need first.

func (w *Writer) flushStacks() error {
	if w.stackN == 0 {
		return nil
	}
	err := w.section(SectionStacks, uint64(w.stackFirst), 0, w.stackN, w.stackBuf)
	w.stackFirst += uint32(w.stackN)
	w.stackN, w.stackBuf = 0, w.stackBuf[:0]
	return err
}

func (w *Writer) flushBlobs() error {
	if w.blobN == 0 {
		return nil
	}
	err := w.section(SectionBlobs, uint64(w.blobFirst), 0, w.blobN, w.blobBuf)
	w.blobFirst += uint32(w.blobN)
	w.blobN, w.blobBuf = 0, w.blobBuf[:0]
	return err
}

func (w *Writer) flushPackets() error {
	if w.pktN == 0 && len(w.pktBuf) == 0 {
		return nil
	}
	keys := slices.SortedFunc(maps.Keys(w.secIfaces), func(a, b ifaceKey) int {
		return cmp.Compare(w.secIfaces[a], w.secIfaces[b])
	})
	ids := make([]uint32, len(keys))
	for i, k := range keys {
		ids[i] = w.secIfaces[k]
	}
	w.raw = appendPacketsPrefix(w.raw[:0], ids, keys)
	w.raw = append(w.raw, w.pktBuf...)
	err := w.section(SectionPackets, uint64(w.pktFirst), 0, w.pktN, w.raw)
	w.pktFirst += uint32(w.pktN)
	w.pktN, w.pktBuf = 0, w.pktBuf[:0]
	clear(w.secIfaces)
	return err
}

// flushEvents writes pending stacks, blobs and packets, then the buffered
// events as one chunk, so that a complete chunk never references data
// that comes after it.
func (w *Writer) flushEvents() error {
	w.lastFlush = time.Now()
	w.sinceTime = 0
	if err := w.flushRefs(); err != nil {
		return err
	}
	if len(w.events) == 0 {
		return nil
	}
	ev := w.events
	w.perm = w.perm[:0]
	w.keys = w.keys[:0]
	for i := range ev {
		w.perm = append(w.perm, int32(i))
		w.keys = append(w.keys, ev[i].Time)
	}
	sortByKey(w.perm, w.keys)
	err := w.writeChunk(ev, w.perm)
	w.events = w.events[:0] // strings stay referenced until overwritten: bounded by the chunk size
	return err
}

// writeChunk writes the events of ev listed by perm (sorted by time) as
// one events section, or as two halves (recursively) when a reader would
// need more than a quarter of [MaxIterMemory] for it, so that a few
// overlapping chunks always fit the reader's bound.
func (w *Writer) writeChunk(ev []Event, perm []int32) error {
	first, last := ev[perm[0]].Time, ev[perm[len(perm)-1]].Time
	raw := w.chunk.encode(ev, perm, first)
	if len(perm) > 1 && chunkMemory(len(raw), len(perm)) > MaxIterMemory/4 {
		h := len(perm) / 2
		if err := w.writeChunk(ev, perm[:h]); err != nil {
			return err
		}
		return w.writeChunk(ev, perm[h:])
	}
	err := w.section(SectionEvents, first, last, len(perm), raw)
	w.stats.Chunks++
	return err
}

// chunkMemory is the most a reader spends on an open events chunk of
// count events and raw payload bytes (see EventIter.open): the cursor,
// the stored and decompressed payloads, at most one decoded value per
// payload byte and one skb state per event.
func chunkMemory(raw, count int) int64 {
	return cursorFixed + 10*int64(raw) + int64(count)*eventSize
}

func (w *Writer) flushRefs() error {
	if err := w.flushStacks(); err != nil {
		return err
	}
	if err := w.flushBlobs(); err != nil {
		return err
	}
	return w.flushPackets()
}

// sortByKey stably sorts perm and keys together by key. Events from a ring
// buffer are nearly sorted, so it runs an insertion sort and falls back to
// a merge sort only when that has to move too much.
func sortByKey(perm []int32, keys []uint64) {
	moves, limit := 0, 8*len(keys)+64
	for i := 1; i < len(keys); i++ {
		k, p := keys[i], perm[i]
		j := i
		for ; j > 0 && keys[j-1] > k; j-- {
			keys[j], perm[j] = keys[j-1], perm[j-1]
		}
		keys[j], perm[j] = k, p
		if moves += i - j; moves > limit {
			sortByKeySlow(perm, keys)
			return
		}
	}
}

func sortByKeySlow(perm []int32, keys []uint64) {
	type pair struct {
		key uint64
		idx int32
	}
	ps := make([]pair, len(keys))
	for i := range ps {
		ps[i] = pair{keys[i], perm[i]}
	}
	slices.SortStableFunc(ps, func(a, b pair) int { return cmp.Compare(a.key, b.key) })
	for i, p := range ps {
		keys[i], perm[i] = p.key, p.idx
	}
}
