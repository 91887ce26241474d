package export

import (
	"fmt"
	"io"

	"github.com/parquet-go/parquet-go"
	"github.com/parquet-go/parquet-go/format"
)

// table writes one Parquet file of rows from its columns, one per leaf of
// the schema in order: a writer adds a row's fields to the columns, then
// calls endRow.
type table struct {
	name      string
	f         *pqFile
	cols      []column
	groupRows int64
	pageSize  int
	rows      int64 // of the row group being filled
}

// newTable binds cols to the leaves of row's schema (a table whose
// columns do not match the schema's types fails: a field added to a row
// must be added to its writer) and starts the file on w, in row groups
// of groupRows rows and pages of about pageSize bytes before encoding.
// rowsHint is how many rows the table will have at most (0: unknown):
// the columns' buffers are sized for it, or for a page when it has more,
// instead of growing (and being copied) while the first page fills.
func newTable(name string, w io.Writer, row any, cols []column, groupRows int64, pageSize int, rowsHint int64, opts []parquet.WriterOption) (*table, error) {
	f, err := newPQFile(w, row, opts)
	if err != nil {
		return nil, fmt.Errorf("start %s table: %w", name, err)
	}
	leaves := f.leaves()
	if len(leaves) != len(cols) {
		return nil, fmt.Errorf("start %s table: schema has %d columns, writer %d", name, len(leaves), len(cols))
	}
	for i, c := range cols {
		b, l := c.base(), leaves[i]
		b.path, b.typ, b.maxDef, b.maxRep = l.path, l.typ, l.maxDef, l.maxRep
		b.optional = l.maxRep == 0 && l.maxDef > 0
		_, isDict := c.(*intDict)
		_, isInts := c.(*int64s)
		b.hasIndex = isDict || isInts
		if want := typeOf(c); l.typ != want || b.isList != (l.maxRep > 0) {
			return nil, fmt.Errorf("start %s table: column %d (%s) is %v (list: %v), writer has %v (list: %v)",
				name, i, l.path[0], l.typ, l.maxRep > 0, want, b.isList)
		}
	}
	if rows := int(min(rowsHint, groupRows)); rows > 0 {
		for _, c := range cols {
			c.reserve(rows, pageSize)
		}
	}
	return &table{name: name, f: f, cols: cols, groupRows: groupRows, pageSize: pageSize}, nil
}

// typeOf is the Parquet type of column c's values.
func typeOf(c column) format.Type {
	size := 0
	switch c := c.(type) {
	case *strDict, *plainStrs:
		return format.ByteArray
	case *intDict:
		size = c.size
	case *int64s:
		size = c.size
	}
	switch size {
	case 4:
		return format.Int32
	case 8:
		return format.Int64
	}
	return -1
}

// endRow ends the row whose fields were added to the columns: it ends
// the row group after groupRows rows, and the pages that are full.
func (t *table) endRow() error {
	t.rows++
	if t.rows == t.groupRows {
		t.f.writeGroup(t.cols, t.rows)
		t.rows = 0
	} else if t.rows%batch == 0 {
		for _, c := range t.cols {
			if c.pending()+c.base().entries >= t.pageSize {
				c.flush(t.f)
			}
		}
	}
	if t.f.err != nil {
		return fmt.Errorf("write %s table: %w", t.name, t.f.err)
	}
	return nil
}

// Close writes the last row group and the footer.
func (t *table) Close() error {
	if t.rows > 0 {
		t.f.writeGroup(t.cols, t.rows)
		t.rows = 0
	}
	if err := t.f.close(); err != nil {
		return fmt.Errorf("write %s table: %w", t.name, err)
	}
	return nil
}
