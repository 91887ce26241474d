package export

import (
	"math/bits"
	"slices"
	"unsafe"

	"github.com/parquet-go/parquet-go/encoding/delta"
	"github.com/parquet-go/parquet-go/format"
)

// A column buffers one leaf column's values of the page being filled.
type column interface {
	base() *chunk
	// pending is the size of the buffered values in bytes (levels not
	// counted).
	pending() int
	// flush encodes the buffered values as a page of the chunk.
	flush(p *pqFile)
	// dictionary returns the chunk's plain-encoded dictionary and its
	// length (-1: no dictionary) and starts a new one.
	dictionary() ([]byte, int)
	// reserve sizes the value buffer of a scalar column for a page of
	// pageSize bytes, or for rows rows when fewer.
	reserve(rows, pageSize int)
}

// pageValues is how many values of size bytes a page of pageSize bytes
// holds at most (a page ends at the first check of its size, every batch
// rows, after size*values+entries >= pageSize), or rows when fewer.
func pageValues(rows, pageSize, size int) int {
	return min(rows, pageSize/(size+1)+batch)
}

// cacheBits sizes the address caches of the string dictionaries.
const cacheBits = 10

// strSlot remembers the dictionary index of a string by its address; it
// holds the string, so the address cannot be reused while it is cached.
type strSlot struct {
	s string
	i int32
}

// strDict is a dictionary-encoded string column.
type strDict struct {
	chunk
	idx   []int32
	table map[string]int32
	cache [1 << cacheBits]strSlot
	last  strSlot // the last value looked up
	dict  []byte
	n     int
}

func (c *strDict) base() *chunk { return &c.chunk }
func (c *strDict) pending() int { return 4 * len(c.idx) }

// add appends s; "" is NULL in an optional column.
func (c *strDict) add(s string) {
	if c.optional && s == "" {
		c.null()
		return
	}
	c.present()
	if len(c.idx) == cap(c.idx) {
		c.idx = grow(c.idx, 1)
	}
	c.idx = append(c.idx, c.lookup(s))
}

// addList appends a list of strings.
func (c *strDict) addList(l []string) {
	c.list(len(l), l == nil)
	if len(c.idx)+len(l) > cap(c.idx) {
		c.idx = grow(c.idx, len(l))
	}
	for _, s := range l {
		c.idx = append(c.idx, c.lookup(s))
	}
}

// lookup returns the dictionary index of s, adding it when new.
func (c *strDict) lookup(s string) int32 {
	p := unsafe.StringData(s)
	if len(s) > 0 && unsafe.StringData(c.last.s) == p && len(c.last.s) == len(s) {
		return c.last.i
	}
	h := (uint64(uintptr(unsafe.Pointer(p))) ^ uint64(len(s))) * 0x9e3779b97f4a7c15 >> (64 - cacheBits)
	e := &c.cache[h]
	if len(s) > 0 && unsafe.StringData(e.s) == p && len(e.s) == len(s) {
		c.last = *e
		return e.i
	}
	i, ok := c.table[s]
	if !ok {
		if c.table == nil {
			c.table = map[string]int32{}
		}
		i = int32(c.n)
		c.n++
		c.table[s] = i
		c.dict = appendPlainString(c.dict, s)
	}
	*e = strSlot{s, i}
	c.last = *e
	return i
}

func (c *strDict) reserve(rows, pageSize int) {
	if !c.isList {
		c.idx = slices.Grow(c.idx, pageValues(rows, pageSize, 4))
	}
}

func (c *strDict) flush(p *pqFile) {
	if c.entries == 0 {
		return
	}
	p.page(&c.chunk, format.RLEDictionary, p.dictIndexes(&c.chunk, c.idx, c.n))
	c.idx = c.idx[:0]
}

func (c *strDict) dictionary() ([]byte, int) {
	d, n := c.dict, c.n
	c.dict, c.n = nil, 0
	clear(c.table)
	c.cache, c.last = [1 << cacheBits]strSlot{}, strSlot{}
	return d, n
}

// intDict is a dictionary-encoded required integer column (size 4 or 8
// bytes), with a hash table of its own.
type intDict struct {
	chunk
	size  int
	idx   []int32
	vals  []int64 // the dictionary
	keys  []int64 // hash slots
	slots []int32 // index+1 in vals, 0: empty
	shift uint
	last  int64
	lastI int32 // index+1 of last, 0: none (the page's first value)
	// lo and hi bound the page's values: a value equal to the last one
	// changes neither.
	lo, hi int64
}

func (c *intDict) base() *chunk { return &c.chunk }
func (c *intDict) pending() int { return 4 * len(c.idx) }

func (c *intDict) add(v int64) {
	c.rows++
	c.entries++
	if len(c.idx) == cap(c.idx) {
		c.idx = grow(c.idx, 1)
	}
	if v == c.last && c.lastI != 0 {
		c.idx = append(c.idx, c.lastI-1)
		return
	}
	if 2*len(c.vals) >= len(c.slots) {
		c.grow()
	}
	mask := len(c.slots) - 1
	h := int(uint64(v) * 0x9e3779b97f4a7c15 >> c.shift)
	for {
		s := c.slots[h]
		if s == 0 {
			c.vals = append(c.vals, v)
			s = int32(len(c.vals))
			c.slots[h], c.keys[h] = s, v
		} else if c.keys[h] != v {
			h = (h + 1) & mask
			continue
		}
		if c.lastI == 0 {
			c.lo, c.hi = v, v
		} else {
			c.lo, c.hi = min(c.lo, v), max(c.hi, v)
		}
		c.last, c.lastI = v, s
		c.idx = append(c.idx, s-1)
		return
	}
}

func (c *intDict) grow() {
	n := max(64, 2*len(c.slots))
	c.shift = uint(64 - bits.TrailingZeros(uint(n)))
	c.keys, c.slots = make([]int64, n), make([]int32, n)
	for i, v := range c.vals {
		h := int(uint64(v) * 0x9e3779b97f4a7c15 >> c.shift)
		for c.slots[h] != 0 {
			h = (h + 1) & (n - 1)
		}
		c.slots[h], c.keys[h] = int32(i+1), v
	}
}

func (c *intDict) reserve(rows, pageSize int) {
	c.idx = slices.Grow(c.idx, pageValues(rows, pageSize, 4))
}

func (c *intDict) flush(p *pqFile) {
	if c.entries == 0 {
		return
	}
	c.bounds(c.lo, c.hi, true, c.size)
	p.page(&c.chunk, format.RLEDictionary, p.dictIndexes(&c.chunk, c.idx, len(c.vals)))
	c.idx, c.lastI = c.idx[:0], 0
}

func (c *intDict) dictionary() ([]byte, int) {
	b := make([]byte, 0, c.size*len(c.vals))
	for _, v := range c.vals {
		b = appendPlainInt(b, v, c.size)
	}
	n := len(c.vals)
	c.vals, c.lastI = c.vals[:0], 0
	clear(c.slots)
	return b, n
}

// int64s is an integer column (size 4 or 8 bytes), DELTA_BINARY_PACKED
// (int64 only) or PLAIN encoded.
type int64s struct {
	chunk
	size  int
	delta bool
	v     []int64
}

func (c *int64s) base() *chunk              { return &c.chunk }
func (c *int64s) pending() int              { return 8 * len(c.v) }
func (c *int64s) dictionary() ([]byte, int) { return nil, -1 }

// add appends v; 0 is NULL in an optional column.
func (c *int64s) add(v int64) {
	if c.optional && v == 0 {
		c.null()
		return
	}
	c.present()
	c.push(v)
}

// addPtr appends *v, NULL when v is nil.
func (c *int64s) addPtr(v *int64) {
	if v == nil {
		c.null()
		return
	}
	c.present()
	c.push(*v)
}

// addPtr32 appends *v, NULL when v is nil.
func (c *int64s) addPtr32(v *int32) {
	if v == nil {
		c.null()
		return
	}
	c.present()
	c.push(int64(*v))
}

// addList appends a list of integers.
func (c *int64s) addList(l []int64) {
	c.list(len(l), l == nil)
	if len(c.v)+len(l) > cap(c.v) {
		c.v = grow(c.v, len(l))
	}
	c.v = append(c.v, l...)
}

func (c *int64s) push(v int64) {
	if len(c.v) == cap(c.v) {
		c.v = grow(c.v, 1)
	}
	c.v = append(c.v, v)
}

func (c *int64s) reserve(rows, pageSize int) {
	if !c.isList {
		c.v = slices.Grow(c.v, pageValues(rows, pageSize, 8))
	}
}

func (c *int64s) flush(p *pqFile) {
	if c.entries == 0 {
		return
	}
	if len(c.v) > 0 {
		lo, hi := c.v[0], c.v[0]
		for _, v := range c.v {
			lo, hi = min(lo, v), max(hi, v)
		}
		c.bounds(lo, hi, true, c.size)
	} else {
		c.bounds(0, 0, false, c.size)
	}
	var data []byte
	enc := format.Plain
	if c.delta {
		var err error
		data, err = (&delta.BinaryPackedEncoding{}).EncodeInt64(p.scratch, c.v)
		p.fail(err, &c.chunk)
		enc = format.DeltaBinaryPacked
	} else {
		data = p.scratch[:0]
		for _, v := range c.v {
			data = appendPlainInt(data, v, c.size)
		}
	}
	p.scratch = data
	p.page(&c.chunk, enc, data)
	c.v = c.v[:0]
}

// plainStrs is a PLAIN encoded string column ("" is NULL in an optional
// one) or a list of strings (nil is NULL in an optional list).
type plainStrs struct {
	chunk
	data []byte
}

func (c *plainStrs) base() *chunk              { return &c.chunk }
func (c *plainStrs) pending() int              { return len(c.data) }
func (c *plainStrs) dictionary() ([]byte, int) { return nil, -1 }

func (c *plainStrs) add(s string) {
	if c.optional && s == "" {
		c.null()
		return
	}
	c.present()
	c.put(s)
}

// addList appends a list of strings.
func (c *plainStrs) addList(l []string) {
	c.list(len(l), l == nil)
	for _, s := range l {
		c.put(s)
	}
}

func (c *plainStrs) put(s string) {
	if len(c.data)+4+len(s) > cap(c.data) {
		c.data = grow(c.data, 4+len(s))
	}
	c.data = appendPlainString(c.data, s)
}

// reserve leaves the buffer to grow: the size of the strings is not
// known.
func (c *plainStrs) reserve(rows, pageSize int) {}

func (c *plainStrs) flush(p *pqFile) {
	if c.entries == 0 {
		return
	}
	p.page(&c.chunk, format.Plain, c.data)
	c.data = c.data[:0]
}
