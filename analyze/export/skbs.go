package export

import (
	"io"

	"github.com/parquet-go/parquet-go"

	"github.com/pwru-record/pwru-record/analyze"
)

// skbsWriter writes the skbs table (see pqfile.go): one column per field
// of analyze.ExportSKB, in the schema's order. The path and interfaces
// lists are dictionary encoded (function and interface names repeat).
type skbsWriter struct {
	*table
	captureID, kernel                      strDict
	skbID                                  int64s
	skb                                    plainStrs
	trackID                                int64s
	cloneOf                                plainStrs
	first, last, firstNs, lastNs, dur, evs int64s
	path                                   strDict
	pathMore                               int64s
	fate, reason, flow, saddr, daddr       strDict
	sport, dport, l4proto                  intDict
	netns                                  int64s
	interfaces                             strDict
	packetFlow                             strDict
	packetIdent, ipID, tcpSeq, tcpAck      int64s
	icmpID, icmpSeq                        int64s
}

// newSKBsWriter writes the skbs table to w, as newEventsWriter.
func newSKBsWriter(w io.Writer, groupRows int64, pageSize int, rowsHint int64, opts []parquet.WriterOption) (*skbsWriter, error) {
	s := &skbsWriter{}
	for _, c := range []*int64s{&s.skbID, &s.first, &s.last, &s.firstNs, &s.lastNs, &s.dur, &s.evs, &s.pathMore,
		&s.netns, &s.packetIdent, &s.ipID, &s.tcpSeq, &s.tcpAck} {
		c.size = 8
	}
	s.trackID.size, s.trackID.delta = 8, true
	s.icmpID.size, s.icmpSeq.size = 4, 4
	for _, c := range []*intDict{&s.sport, &s.dport, &s.l4proto} {
		c.size = 4
	}
	s.path.isList, s.netns.isList, s.interfaces.isList = true, true, true
	cols := []column{
		&s.captureID, &s.kernel, &s.skbID, &s.skb, &s.trackID, &s.cloneOf, &s.first, &s.last,
		&s.firstNs, &s.lastNs, &s.dur, &s.evs, &s.path, &s.pathMore, &s.fate, &s.reason, &s.flow,
		&s.saddr, &s.daddr, &s.sport, &s.dport, &s.l4proto, &s.netns, &s.interfaces, &s.packetFlow,
		&s.packetIdent, &s.ipID, &s.tcpSeq, &s.tcpAck, &s.icmpID, &s.icmpSeq,
	}
	t, err := newTable("skbs", w, new(analyze.ExportSKB), cols, groupRows, pageSize, rowsHint, opts)
	if err != nil {
		return nil, err
	}
	s.table = t
	return s, nil
}

// Write appends a row; it keeps none of r's memory but its strings.
func (s *skbsWriter) Write(r *analyze.ExportSKB) error {
	s.captureID.add(r.CaptureID)
	s.kernel.add(r.Kernel)
	s.skbID.add(r.SKBID)
	s.skb.add(r.SKB)
	s.trackID.add(r.TrackID)
	s.cloneOf.add(r.CloneOf)
	s.first.add(r.First)
	s.last.add(r.Last)
	s.firstNs.add(r.FirstNs)
	s.lastNs.add(r.LastNs)
	s.dur.add(r.Duration)
	s.evs.add(r.Events)
	s.path.addList(r.Path)
	s.pathMore.add(r.PathMore)
	s.fate.add(r.Fate)
	s.reason.add(r.Reason)
	s.flow.add(r.Flow)
	s.saddr.add(r.Saddr)
	s.daddr.add(r.Daddr)
	s.sport.add(int64(r.Sport))
	s.dport.add(int64(r.Dport))
	s.l4proto.add(int64(r.L4Proto))
	s.netns.addList(r.NetnsSeen)
	s.interfaces.addList(r.Interfaces)
	s.packetFlow.add(r.PacketFlow)
	s.packetIdent.addPtr(r.PacketIdent)
	s.ipID.addPtr(r.IPID)
	s.tcpSeq.addPtr(r.TCPSeq)
	s.tcpAck.addPtr(r.TCPAck)
	s.icmpID.addPtr32(r.ICMPID)
	s.icmpSeq.addPtr32(r.ICMPSeq)
	return s.endRow()
}
