package format

// ChunkStats encodes events (sorted by time) as one chunk and returns a
// histogram of skb codes and masks and the payload size, for tests that
// tune the encoding.
func ChunkStats(ev []Event) (codes, masks map[uint64]int, raw int, err error) {
	perm := make([]int32, len(ev))
	for i := range perm {
		perm[i] = int32(i)
	}
	c := newChunkEncoder()
	p := c.encode(ev, perm, ev[0].Time)
	var d chunkDecoder
	if err := d.init(p, len(ev), ev[0].Time, ev[len(ev)-1].Time, func(b []byte) string { return string(b) }, MaxIterMemory); err != nil {
		return nil, nil, 0, err
	}
	codes, masks = map[uint64]int{}, map[uint64]int{}
	for _, x := range d.vals[colRef].v {
		codes[x]++
	}
	for _, x := range d.vals[colMask].v {
		masks[x]++
	}
	return codes, masks, len(p), nil
}
