package export

import (
	"io"

	"github.com/parquet-go/parquet-go"

	"github.com/pwru-record/pwru-record/analyze"
)

// eventsWriter writes the events table (see pqfile.go): one column per
// field of analyze.ExportEvent, in the schema's order.
type eventsWriter struct {
	*table
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
}

// newEventsWriter writes the events table to w in row groups of
// groupRows rows and pages of about pageSize bytes (before encoding),
// with the footer template of opts; rowsHint is newTable's.
func newEventsWriter(w io.Writer, groupRows int64, pageSize int, rowsHint int64, opts []parquet.WriterOption) (*eventsWriter, error) {
	e := &eventsWriter{}
	for _, c := range []*int64s{&e.time, &e.timeNs, &e.skbID, &e.trackID} {
		c.size, c.delta = 8, true
	}
	e.retval.size = 8
	for _, c := range []*intDict{&e.cpu, &e.protocol, &e.pktType, &e.sport, &e.dport, &e.l4proto} {
		c.size = 4
	}
	for _, c := range []*intDict{&e.pid, &e.netns, &e.ifindex, &e.mark, &e.length, &e.mtu} {
		c.size = 8
	}
	e.stack.isList = true
	cols := []column{
		&e.captureID, &e.kernel, &e.time, &e.timeNs, &e.cpu, &e.pid, &e.process, &e.fn, &e.probeKind,
		&e.skbID, &e.skb, &e.trackID, &e.netns, &e.netnsName, &e.ifname, &e.ifindex, &e.mark,
		&e.protocol, &e.length, &e.mtu, &e.pktType, &e.saddr, &e.daddr, &e.sport, &e.dport,
		&e.l4proto, &e.dropReason, &e.retval, &e.verdict, &e.stack, &e.caller,
	}
	t, err := newTable("events", w, new(analyze.ExportEvent), cols, groupRows, pageSize, rowsHint, opts)
	if err != nil {
		return nil, err
	}
	e.table = t
	return e, nil
}

// Write appends a row; it keeps none of r's memory but its strings.
func (e *eventsWriter) Write(r *analyze.ExportEvent) error {
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
	return e.endRow()
}
