package analyze

// lifeTable maps skb addresses to their live lifetime. It is an
// open-addressing table with linear probing and backward-shift deletion:
// keys sit next to each other, so the lookup, insert and delete that every
// new skb costs touch one or two cache lines, where a map of thousands of
// silent skbs misses the cache more. Address 0 is never stored (events
// without an skb have no lifetime). Not safe for concurrent use.
type lifeTable struct {
	slots []lifeSlot
	n     int
	shift uint8 // 64 - log2(len(keys))
}

// lifeSlot is an entry of a lifeTable: key and value side by side, so a
// lookup touches one cache line.
type lifeSlot struct {
	key uint64 // 0 = empty slot
	l   *life
}

// home is the preferred slot of addr (Fibonacci hashing).
func (t *lifeTable) home(addr uint64) uint64 {
	return (addr * 0x9e3779b97f4a7c15) >> t.shift
}

// len returns the number of lifetimes stored.
func (t *lifeTable) len() int { return t.n }

// get returns the lifetime at addr, or nil.
func (t *lifeTable) get(addr uint64) *life {
	if t.n == 0 {
		return nil
	}
	mask := uint64(len(t.slots) - 1)
	for i := t.home(addr); ; i = (i + 1) & mask {
		switch s := &t.slots[i]; s.key {
		case addr:
			return s.l
		case 0:
			return nil
		}
	}
}

// put stores l at addr, replacing what was there.
func (t *lifeTable) put(addr uint64, l *life) {
	if (t.n+1)*2 > len(t.slots) {
		t.grow()
	}
	mask := uint64(len(t.slots) - 1)
	for i := t.home(addr); ; i = (i + 1) & mask {
		switch s := &t.slots[i]; s.key {
		case addr:
			s.l = l
			return
		case 0:
			*s = lifeSlot{addr, l}
			t.n++
			return
		}
	}
}

// del removes addr.
func (t *lifeTable) del(addr uint64) {
	if t.n == 0 {
		return
	}
	mask := uint64(len(t.slots) - 1)
	i := t.home(addr)
	for t.slots[i].key != addr {
		if t.slots[i].key == 0 {
			return
		}
		i = (i + 1) & mask
	}
	// Shift back the entries of the probe run that may move into the
	// hole: an entry at j whose home h is at least as far from j as the
	// hole is.
	for j := (i + 1) & mask; t.slots[j].key != 0; j = (j + 1) & mask {
		h := t.home(t.slots[j].key)
		if (j-h)&mask >= (j-i)&mask {
			t.slots[i] = t.slots[j]
			i = j
		}
	}
	t.slots[i] = lifeSlot{}
	t.n--
}

func (t *lifeTable) grow() {
	size := max(2*len(t.slots), 256)
	old := t.slots
	t.slots, t.n = make([]lifeSlot, size), 0
	t.shift = uint8(64 - log2(size))
	for _, s := range old {
		if s.key != 0 {
			t.put(s.key, s.l)
		}
	}
}

func log2(n int) int {
	b := 0
	for n > 1 {
		n >>= 1
		b++
	}
	return b
}

// appendAll appends every stored lifetime to ls, in no particular order.
func (t *lifeTable) appendAll(ls []*life) []*life {
	for _, s := range t.slots {
		if s.key != 0 {
			ls = append(ls, s.l)
		}
	}
	return ls
}

// clear removes everything, keeping the memory.
func (t *lifeTable) clear() {
	clear(t.slots)
	t.n = 0
}
