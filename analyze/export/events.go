package export

import (
	"fmt"
	"io"

	"github.com/parquet-go/parquet-go"
	"github.com/parquet-go/parquet-go/format"

	"github.com/pwru-record/pwru-record/analyze"
)

// eventsWriter writes the events table (see pqfile.go): one column per
// field of analyze.ExportEvent, in the schema's order.
type eventsWriter struct {
	f         *pqFile
	groupRows int64
	pageSize  int
	rows      int64 // of the row group being filled

	captureID, kernel               strDict
	time, timeNs                    int64s
	cpu, pid                        intDict
	process, fn, probeKind          strDict
	skbID                           int64s
	skb                             plainStrs
	trackID                         int64s
	netns                           intDict
	netnsName, ifname               strDict
	ifindex, mark, protocol, length intDict
	mtu, pktType                    intDict
	saddr, daddr                    strDict
	sport, dport, l4proto           intDict
	dropReason                      strDict
	retval                          int64s
	verdict                         strDict
	stack                           plainStrs
	caller                          strDict
	cols                            []column
}

// newEventsWriter writes the events table to w in row groups of
// groupRows rows and pages of about pageSize bytes (before encoding),
// with the footer template of opts.
func newEventsWriter(w io.Writer, groupRows int64, pageSize int, opts []parquet.WriterOption) (*eventsWriter, error) {
	f, err := newPQFile(w, new(analyze.ExportEvent), opts)
	if err != nil {
		return nil, err
	}
	e := &eventsWriter{f: f, groupRows: groupRows, pageSize: pageSize}
	e.time.delta, e.timeNs.delta, e.skbID.delta, e.trackID.delta = true, true, true, true
	for _, c := range []*intDict{&e.cpu, &e.protocol, &e.pktType, &e.sport, &e.dport, &e.l4proto} {
		c.size = 4
	}
	for _, c := range []*intDict{&e.pid, &e.netns, &e.ifindex, &e.mark, &e.length, &e.mtu} {
		c.size = 8
	}
	e.cols = []column{
		&e.captureID, &e.kernel, &e.time, &e.timeNs, &e.cpu, &e.pid, &e.process, &e.fn, &e.probeKind,
		&e.skbID, &e.skb, &e.trackID, &e.netns, &e.netnsName, &e.ifname, &e.ifindex, &e.mark,
		&e.protocol, &e.length, &e.mtu, &e.pktType, &e.saddr, &e.daddr, &e.sport, &e.dport,
		&e.l4proto, &e.dropReason, &e.retval, &e.verdict, &e.stack, &e.caller,
	}
	leaves := f.leaves()
	if len(leaves) != len(e.cols) {
		return nil, fmt.Errorf("events writer: schema has %d columns, writer %d", len(leaves), len(e.cols))
	}
	for i, c := range e.cols {
		b, l := c.base(), leaves[i]
		b.path, b.typ, b.maxDef, b.maxRep = l.path, l.typ, l.maxDef, l.maxRep
		b.optional = l.maxRep == 0 && l.maxDef > 0
		_, isDict := c.(*intDict)
		_, isInts := c.(*int64s)
		b.hasIndex = isDict || isInts
		if err := e.check(i, b); err != nil {
			return nil, err
		}
	}
	return e, nil
}

// check compares column i with the schema's: a field added to
// analyze.ExportEvent must be added here too.
func (e *eventsWriter) check(i int, b *chunk) error {
	var want format.Type
	switch c := e.cols[i].(type) {
	case *strDict, *plainStrs:
		want = format.ByteArray
	case *int64s:
		want = format.Int64
	case *intDict:
		want = format.Int64
		if c.size == 4 {
			want = format.Int32
		}
	}
	if b.typ != want || (b.maxRep > 0) != (e.cols[i] == &e.stack) {
		return fmt.Errorf("events writer: column %d (%s) is %v, writer has %v", i, b.path[0], b.typ, want)
	}
	return nil
}

// Write appends a row; it keeps none of r's memory but its strings.
func (e *eventsWriter) Write(r *analyze.ExportEvent) error {
	e.add(r)
	e.rows++
	if e.rows == e.groupRows {
		e.f.writeGroup(e.cols, e.rows)
		e.rows = 0
	} else if e.rows%batch == 0 {
		for _, c := range e.cols {
			if c.pending()+c.base().entries >= e.pageSize {
				c.flush(e.f)
			}
		}
	}
	return e.f.err
}

func (e *eventsWriter) add(r *analyze.ExportEvent) {
	e.captureID.add(r.CaptureID)
	e.kernel.add(r.Kernel)
	e.time.add(r.Time)
	e.timeNs.add(r.TimeNs)
	e.cpu.add(int64(r.CPU))
	e.pid.add(r.PID)
	e.process.add(r.Process)
	e.fn.add(r.Func)
	e.probeKind.add(r.ProbeKind)
	e.skbID.add(r.SKBID)
	e.skb.add(r.SKB)
	e.trackID.add(r.TrackID)
	e.netns.add(r.Netns)
	e.netnsName.add(r.NetnsName)
	e.ifname.add(r.Ifname)
	e.ifindex.add(r.Ifindex)
	e.mark.add(r.Mark)
	e.protocol.add(int64(r.Protocol))
	e.length.add(r.Len)
	e.mtu.add(r.MTU)
	e.pktType.add(int64(r.PktType))
	e.saddr.add(r.Saddr)
	e.daddr.add(r.Daddr)
	e.sport.add(int64(r.Sport))
	e.dport.add(int64(r.Dport))
	e.l4proto.add(int64(r.L4Proto))
	e.dropReason.add(r.DropReason)
	e.retval.addPtr(r.Retval)
	e.verdict.add(r.Verdict)
	e.stack.addList(r.Stack)
	e.caller.add(r.Caller)
}

// Close writes the last row group and the footer.
func (e *eventsWriter) Close() error {
	if e.rows > 0 {
		e.f.writeGroup(e.cols, e.rows)
		e.rows = 0
	}
	return e.f.close()
}
