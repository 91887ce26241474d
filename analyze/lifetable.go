package analyze

// lifeTable maps skb addresses to their live lifetime. It is an
// open-addressing table with linear probing and backward-shift deletion:
// keys sit next to each other, so the lookup, insert and delete that every
// new skb costs touch one or two cache lines, where a map of thousands of
// silent skbs misses the cache more. Address 0 is never stored (events
// without an skb have no lifetime). Not safe for concurrent use.
type lifeTable struct {
	keys  []uint64 // 0 = empty slot
	vals  []*life
	n     int
	shift uint8 // 64 - log2(len(keys))
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
	mask := uint64(len(t.keys) - 1)
	for i := t.home(addr); ; i = (i + 1) & mask {
		switch t.keys[i] {
		case addr:
			return t.vals[i]
		case 0:
			return nil
		}
	}
}

// put stores l at addr, replacing what was there.
func (t *lifeTable) put(addr uint64, l *life) {
	if (t.n+1)*2 > len(t.keys) {
		t.grow()
	}
	mask := uint64(len(t.keys) - 1)
	for i := t.home(addr); ; i = (i + 1) & mask {
		switch t.keys[i] {
		case addr:
			t.vals[i] = l
			return
		case 0:
			t.keys[i], t.vals[i] = addr, l
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
	mask := uint64(len(t.keys) - 1)
	i := t.home(addr)
	for t.keys[i] != addr {
		if t.keys[i] == 0 {
			return
		}
		i = (i + 1) & mask
	}
	// Shift back the entries of the probe run that may move into the
	// hole: an entry at j whose home h is at least as far from j as the
	// hole is.
	for j := (i + 1) & mask; t.keys[j] != 0; j = (j + 1) & mask {
		h := t.home(t.keys[j])
		if (j-h)&mask >= (j-i)&mask {
			t.keys[i], t.vals[i] = t.keys[j], t.vals[j]
			i = j
		}
	}
	t.keys[i], t.vals[i] = 0, nil
	t.n--
}

func (t *lifeTable) grow() {
	size := max(2*len(t.keys), 256)
	old, oldVals := t.keys, t.vals
	t.keys, t.vals, t.n = make([]uint64, size), make([]*life, size), 0
	t.shift = uint8(64 - log2(size))
	for i, k := range old {
		if k != 0 {
			t.put(k, oldVals[i])
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
	for i, k := range t.keys {
		if k != 0 {
			ls = append(ls, t.vals[i])
		}
	}
	return ls
}

// clear removes everything, keeping the memory.
func (t *lifeTable) clear() {
	clear(t.keys)
	clear(t.vals)
	t.n = 0
}
