package export

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"fmt"
	"io"
	"math/bits"
	"slices"

	"github.com/parquet-go/parquet-go"
	"github.com/parquet-go/parquet-go/encoding/rle"
	"github.com/parquet-go/parquet-go/encoding/thrift"
	"github.com/parquet-go/parquet-go/format"
)

// The events and skbs tables are written by a column writer of their own
// (pqfile.go, pqtable.go, pqcolumns.go, events.go, skbs.go) rather than
// parquet-go's: parquet-go inserts every string into a map-backed
// dictionary, walks each row by reflection and computes bounds and level
// histograms per page, which cost the export half its time. This writer
// appends each row's fields to typed column buffers, looks strings up by
// their address first (the exporter hands out the same strings again and
// again) and writes the pages with parquet-go's encoders and thrift
// structs. The schema, column orders and the rest of the footer's
// template come from parquet-go itself (an empty file of the row type),
// so the files have the schema parquet-go gives them; TestRowsRoundTrip
// reads them back with parquet-go's reader, the duckdbtest with DuckDB.

// pageBytes is the size of a column's buffered values (before encoding)
// that ends a page.
const pageBytes = 1 << 20

// magic begins and ends a Parquet file.
const magic = "PAR1"

// chunk is the part of a column that is the same for every type: the
// levels of the page being filled and the encoded pages of the row group.
type chunk struct {
	path     []string
	typ      format.Type
	optional bool // a scalar that may be NULL
	isList   bool // set by the table's writer: a list column
	maxDef   byte // definition and repetition levels of the leaf
	maxRep   byte

	// The page's levels are computed when it is written, from nulls
	// (optional scalars: a bit set for each entry that is NULL) and lens
	// (lists: each row's length, -1 for a NULL list).
	nulls   []uint64
	lens    []int32
	rows    int // rows of the page
	entries int // level entries (values and nulls) of the page
	nuls    int // nulls of the page

	pages      [][]byte // the row group's pages, headers included
	pagesLen   int64
	locs       []format.PageLocation
	encStats   []format.PageEncodingStats
	chunkRows  int64
	chunkVals  int64
	chunkNulls int64
	unzipped   int64 // uncompressed bytes of the pages, headers included
	colIndex   format.ColumnIndex
	hasIndex   bool // colIndex is kept (integer columns)
	minMax     bool // the chunk has a min and max
	min, max   int64
}

// null adds a NULL row to an optional column.
func (c *chunk) null() {
	w := c.entries >> 6
	for w >= len(c.nulls) {
		if len(c.nulls) == cap(c.nulls) {
			c.nulls = grow(c.nulls, 1)
		}
		c.nulls = append(c.nulls, 0)
	}
	c.nulls[w] |= 1 << (c.entries & 63)
	c.rows++
	c.entries++
	c.nuls++
}

// present adds a row with a value.
func (c *chunk) present() {
	c.rows++
	c.entries++
}

// list adds a row that is a list of n elements (isNil: a NULL list, in
// an optional list). An empty or NULL list is one NULL entry.
func (c *chunk) list(n int, isNil bool) {
	c.rows++
	l := int32(n)
	if n == 0 {
		c.entries++
		c.nuls++
		if isNil {
			l = -1
		}
	} else {
		c.entries += n
	}
	if len(c.lens) == cap(c.lens) {
		c.lens = grow(c.lens, 1)
	}
	c.lens = append(c.lens, l)
}

// grow returns s with room for n more elements; it at least doubles the
// capacity, so a buffer that fills a page from empty is copied about as
// much as it holds (append grows large slices by a quarter), and pages
// after the first reuse it.
func grow[S ~[]E, E any](s S, n int) S {
	return slices.Grow(s, max(n, cap(s), 256))
}

// sized returns b with length n, reallocated when too small.
func sized(b []byte, n int) []byte {
	if cap(b) < n {
		return make([]byte, n, 2*n)
	}
	return b[:n]
}

// pageLevels returns the repetition and definition levels of c's page, in
// scratch buffers of p: for a list, maxRep for each element but a row's
// first and maxDef for each, maxDef-1 for an empty list and 0 for a NULL
// one; for an optional scalar, 1 for a value and 0 for a NULL.
func (p *pqFile) pageLevels(c *chunk) (reps, defs []byte) {
	switch {
	case c.maxRep > 0:
		reps, defs = sized(p.reps, c.entries), sized(p.defs, c.entries)
		i := 0
		for _, n := range c.lens {
			switch {
			case n > 0:
				reps[i] = 0
				defs[i] = c.maxDef
				for j := i + 1; j < i+int(n); j++ {
					reps[j], defs[j] = c.maxRep, c.maxDef
				}
				i += int(n)
				continue
			case n == 0:
				defs[i] = c.maxDef - 1
			default:
				defs[i] = 0
			}
			reps[i] = 0
			i++
		}
		p.reps, p.defs = reps, defs
	case c.maxDef > 0:
		defs = sized(p.defs, c.entries)
		for i := range defs {
			defs[i] = c.maxDef
		}
		for w, bs := range c.nulls {
			for bs != 0 {
				defs[w<<6+bits.TrailingZeros64(bs)] = 0
				bs &= bs - 1
			}
		}
		p.defs = defs
	}
	return reps, defs
}

// bounds records a page's min and max for the chunk's statistics and
// column index.
func (c *chunk) bounds(minV, maxV int64, ok bool, size int) {
	if c.hasIndex {
		ci := &c.colIndex
		ci.NullPages = append(ci.NullPages, !ok)
		ci.NullCounts = append(ci.NullCounts, int64(c.nuls))
		if ok {
			ci.MinValues = append(ci.MinValues, plainInt(minV, size))
			ci.MaxValues = append(ci.MaxValues, plainInt(maxV, size))
		} else {
			ci.MinValues = append(ci.MinValues, []byte{})
			ci.MaxValues = append(ci.MaxValues, []byte{})
		}
	}
	if !ok {
		return
	}
	if !c.minMax || minV < c.min {
		c.min = minV
	}
	if !c.minMax || maxV > c.max {
		c.max = maxV
	}
	c.minMax = true
}

// appendPlainInt appends v in PLAIN encoding, size (4 or 8) bytes.
func appendPlainInt(b []byte, v int64, size int) []byte {
	if size == 4 {
		return binary.LittleEndian.AppendUint32(b, uint32(v))
	}
	return binary.LittleEndian.AppendUint64(b, uint64(v))
}

// appendPlainString appends s in PLAIN encoding: its length (4 bytes)
// and its bytes.
func appendPlainString(b []byte, s string) []byte {
	b = binary.LittleEndian.AppendUint32(b, uint32(len(s)))
	return append(b, s...)
}

// plainInt is v in PLAIN encoding, size (4 or 8) bytes.
func plainInt(v int64, size int) []byte { return appendPlainInt(nil, v, size) }

// pqFile writes the row groups and the footer of one Parquet file.
type pqFile struct {
	out     *bufio.Writer
	off     int64
	meta    format.FileMetaData
	groups  []format.RowGroup
	colIdx  [][]format.ColumnIndex
	offIdx  [][]format.OffsetIndex
	proto   thrift.CompactProtocol
	hdr     bytes.Buffer
	enc     *thrift.Encoder
	levels  []byte // scratch: encoded levels
	reps    []byte // scratch: a page's repetition levels
	defs    []byte // scratch: a page's definition levels
	scratch []byte // scratch: encoded values
	zbuf    []byte // scratch: compressed values
	err     error
}

// newPQFile starts a file of row's schema, taking the schema, column
// orders and version from an empty file parquet-go writes with opts.
func newPQFile(w io.Writer, row any, opts []parquet.WriterOption) (*pqFile, error) {
	var b bytes.Buffer
	pw := parquet.NewWriter(&b, append([]parquet.WriterOption{parquet.SchemaOf(row)}, opts...)...)
	if err := pw.Close(); err != nil {
		return nil, fmt.Errorf("write schema template: %w", err)
	}
	f, err := parquet.OpenFile(bytes.NewReader(b.Bytes()), int64(b.Len()))
	if err != nil {
		return nil, fmt.Errorf("read schema template: %w", err)
	}
	p := &pqFile{out: bufio.NewWriterSize(w, 1<<16), meta: *f.Metadata()}
	p.meta.RowGroups, p.meta.NumRows = nil, 0
	p.enc = thrift.NewEncoder(p.proto.NewWriter(&p.hdr))
	p.write([]byte(magic))
	return p, p.err
}

// leaf is a leaf column of the schema.
type leaf struct {
	path           []string
	typ            format.Type
	maxDef, maxRep byte
}

// leaves returns the schema's leaf columns in order.
func (p *pqFile) leaves() []leaf {
	s := p.meta.Schema
	var out []leaf
	var walk func(i int, parent leaf) int
	walk = func(i int, parent leaf) int {
		e := &s[i]
		l := leaf{path: append(parent.path[:len(parent.path):len(parent.path)], e.Name), maxDef: parent.maxDef, maxRep: parent.maxRep}
		switch e.RepetitionType.V {
		case format.Optional:
			l.maxDef++
		case format.Repeated:
			l.maxDef++
			l.maxRep++
		}
		n := int(e.NumChildren.V)
		if !e.NumChildren.Valid || n == 0 {
			l.typ = e.Type.V
			out = append(out, l)
			return i + 1
		}
		j := i + 1
		for range n {
			j = walk(j, l)
		}
		return j
	}
	for i := 1; i < len(s); {
		i = walk(i, leaf{})
	}
	return out
}

// dictIndexes encodes idx, indexes into a dictionary of n values, as
// RLE_DICTIONARY data: the bit width (of n-1, not scanned from idx), then
// the RLE/bit-packed runs.
func (p *pqFile) dictIndexes(c *chunk, idx []int32, n int) []byte {
	width := bits.Len32(uint32(max(n, 1) - 1))
	if need := 1 + 5*len(idx) + 64; cap(p.scratch) < need {
		p.scratch = make([]byte, 0, 2*need)
	}
	buf := p.scratch[:1]
	buf[0] = byte(width)
	enc, err := (&rle.Encoding{BitWidth: width}).EncodeInt32(buf[1:], idx)
	p.fail(err, c)
	if len(enc) > 0 && &enc[0] != &p.scratch[:2][1] {
		enc = append(buf, enc...)
		p.scratch = enc
		return enc
	}
	return p.scratch[:1+len(enc)]
}

// fail keeps the first error of encoding c.
func (p *pqFile) fail(err error, c *chunk) {
	if err != nil && p.err == nil {
		p.err = fmt.Errorf("encode page of %s: %w", c.path[0], err)
	}
}

// writeGroup writes a row group of rows rows from cols.
func (p *pqFile) writeGroup(cols []column, rows int64) {
	p.colIdx = append(p.colIdx, nil)
	p.offIdx = append(p.offIdx, nil)
	g := format.RowGroup{NumRows: rows, FileOffset: p.off, Ordinal: int16(len(p.groups))}
	for _, c := range cols {
		c.flush(p)
		dict, n := c.dictionary()
		cc := p.writeChunk(c.base(), dict, n)
		g.TotalByteSize += cc.MetaData.TotalUncompressedSize
		g.TotalCompressedSize += cc.MetaData.TotalCompressedSize
		g.Columns = append(g.Columns, cc)
	}
	p.groups = append(p.groups, g)
}

func (p *pqFile) write(b []byte) {
	if p.err != nil {
		return
	}
	n, err := p.out.Write(b)
	p.off += int64(n)
	p.err = err
}

func (p *pqFile) header(h any) []byte {
	p.hdr.Reset()
	if err := p.enc.Encode(h); err != nil && p.err == nil {
		p.err = fmt.Errorf("encode page header: %w", err)
	}
	return p.hdr.Bytes()
}

// page appends a data page of c's levels and the encoded values data to
// c's pages, compressed, and starts c's next page.
func (p *pqFile) page(c *chunk, enc format.Encoding, data []byte) {
	if c.entries == 0 {
		return
	}
	var err error
	p.levels = p.levels[:0]
	var repLen, defLen int
	reps, defs := p.pageLevels(c)
	if c.maxRep > 0 {
		p.levels, err = (&rle.Encoding{BitWidth: bits.Len8(c.maxRep)}).EncodeLevels(p.levels, reps)
		repLen = len(p.levels)
	}
	if c.maxDef > 0 && err == nil {
		defs, err = (&rle.Encoding{BitWidth: bits.Len8(c.maxDef)}).EncodeLevels(p.levels[repLen:], defs)
		p.levels = append(p.levels[:repLen], defs...)
		defLen = len(defs)
	}
	if err == nil {
		p.zbuf, err = zstdFastest.Encode(p.zbuf, data)
	}
	if err != nil && p.err == nil {
		p.err = fmt.Errorf("encode page of %s: %w", c.path[0], err)
	}
	h := p.header(&format.PageHeader{
		Type:                 format.DataPageV2,
		UncompressedPageSize: int32(len(p.levels) + len(data)),
		CompressedPageSize:   int32(len(p.levels) + len(p.zbuf)),
		DataPageHeaderV2: thrift.New(format.DataPageHeaderV2{
			NumValues:                  int32(c.entries),
			NumNulls:                   int32(c.nuls),
			NumRows:                    int32(c.rows),
			Encoding:                   enc,
			DefinitionLevelsByteLength: int32(defLen),
			RepetitionLevelsByteLength: int32(repLen),
			IsCompressed:               thrift.New(true),
			Statistics:                 format.Statistics{NullCount: int64(c.nuls)},
		}),
	})
	size := len(h) + len(p.levels) + len(p.zbuf)
	c.locs = append(c.locs, format.PageLocation{Offset: c.pagesLen, CompressedPageSize: int32(size), FirstRowIndex: c.chunkRows})
	pg := make([]byte, 0, size)
	pg = append(pg, h...)
	pg = append(pg, p.levels...)
	c.pages = append(c.pages, append(pg, p.zbuf...))
	c.pagesLen += int64(size)
	c.unzipped += int64(len(h) + len(p.levels) + len(data))
	c.encStats = addStat(c.encStats, format.DataPageV2, enc)
	c.chunkRows += int64(c.rows)
	c.chunkVals += int64(c.entries)
	c.chunkNulls += int64(c.nuls)
	clear(c.nulls)
	c.nulls, c.lens = c.nulls[:0], c.lens[:0]
	c.rows, c.entries, c.nuls = 0, 0, 0
}

func addStat(s []format.PageEncodingStats, t format.PageType, enc format.Encoding) []format.PageEncodingStats {
	for i := range s {
		if s[i].PageType == t && s[i].Encoding == enc {
			s[i].Count++
			return s
		}
	}
	return append(s, format.PageEncodingStats{PageType: t, Encoding: enc, Count: 1})
}

// writeChunk writes c's row group chunk (its dictionary page dict of n
// values first, when n >= 0) and returns its metadata; it resets c for
// the next row group.
func (p *pqFile) writeChunk(c *chunk, dict []byte, n int) format.ColumnChunk {
	start := p.off
	md := format.ColumnMetaData{
		Type:         c.typ,
		PathInSchema: c.path,
		Codec:        format.Zstd,
		NumValues:    c.chunkVals,
		Statistics:   format.Statistics{NullCount: c.chunkNulls},
	}
	var comp int64
	if n >= 0 {
		z, err := zstdFastest.Encode(p.zbuf, dict)
		if err != nil && p.err == nil {
			p.err = fmt.Errorf("compress dictionary of %s: %w", c.path[0], err)
		}
		p.zbuf = z
		h := p.header(&format.PageHeader{
			Type:                 format.DictionaryPage,
			UncompressedPageSize: int32(len(dict)),
			CompressedPageSize:   int32(len(z)),
			DictionaryPageHeader: thrift.New(format.DictionaryPageHeader{NumValues: int32(n), Encoding: format.Plain}),
		})
		md.DictionaryPageOffset = p.off
		p.write(h)
		p.write(z)
		md.TotalUncompressedSize += int64(len(h) + len(dict))
		md.EncodingStats = append(md.EncodingStats, format.PageEncodingStats{PageType: format.DictionaryPage, Encoding: format.Plain, Count: 1})
		md.Encoding = append(md.Encoding, format.Plain)
	}
	comp = p.off - start
	md.DataPageOffset = p.off
	for i := range c.locs {
		c.locs[i].Offset += p.off
	}
	for _, pg := range c.pages {
		p.write(pg)
	}
	md.TotalCompressedSize = comp + c.pagesLen
	md.TotalUncompressedSize += c.unzipped
	md.EncodingStats = append(md.EncodingStats, c.encStats...)
	if c.maxDef > 0 {
		md.Encoding = append(md.Encoding, format.RLE)
	}
	for _, s := range c.encStats {
		md.Encoding = append(md.Encoding, s.Encoding)
	}
	if c.minMax {
		size := 8
		if c.typ == format.Int32 {
			size = 4
		}
		md.Statistics.MinValue, md.Statistics.MaxValue = plainInt(c.min, size), plainInt(c.max, size)
	}
	p.offIdx[len(p.offIdx)-1] = append(p.offIdx[len(p.offIdx)-1], format.OffsetIndex{PageLocations: c.locs})
	ci := format.ColumnIndex{}
	if c.hasIndex {
		ci = c.colIndex
		ci.BoundaryOrder = format.Unordered
	}
	p.colIdx[len(p.colIdx)-1] = append(p.colIdx[len(p.colIdx)-1], ci)

	c.pages, c.pagesLen, c.locs, c.encStats = nil, 0, nil, nil
	c.chunkRows, c.chunkVals, c.chunkNulls, c.unzipped = 0, 0, 0, 0
	c.colIndex, c.minMax = format.ColumnIndex{}, false
	return format.ColumnChunk{FileOffset: start, MetaData: md}
}

// close writes the page indexes and the footer and flushes the file.
func (p *pqFile) close() error {
	for g := range p.groups {
		cols := p.groups[g].Columns
		for i := range cols {
			if ci := &p.colIdx[g][i]; len(ci.NullPages) > 0 {
				cols[i].ColumnIndexOffset = p.off
				p.write(p.header(ci))
				cols[i].ColumnIndexLength = int32(p.off - cols[i].ColumnIndexOffset)
			}
		}
	}
	for g := range p.groups {
		cols := p.groups[g].Columns
		for i := range cols {
			cols[i].OffsetIndexOffset = p.off
			p.write(p.header(&p.offIdx[g][i]))
			cols[i].OffsetIndexLength = int32(p.off - cols[i].OffsetIndexOffset)
		}
	}
	p.meta.RowGroups = p.groups
	for _, g := range p.groups {
		p.meta.NumRows += g.NumRows
	}
	footer := p.off
	p.write(p.header(&p.meta))
	p.write(binary.LittleEndian.AppendUint32(nil, uint32(p.off-footer)))
	p.write([]byte(magic))
	if p.err != nil {
		return p.err
	}
	return p.out.Flush()
}
