package analyze

// diffFlowAcc folds the compared packets of one flow.
type diffFlowAcc struct {
	fd    FlowDiff
	divs  map[[2]int32]*divAcc // by (good shape, bad shape)
	drops map[uint32]int       // bad run's drop reasons
}

// divAcc counts the matched pairs of one divergence; the fates shown are
// those of the pair whose good packet came first.
type divAcc struct {
	n         int
	first     uint64
	good, bad diffRec
}

// diffAcc folds pairs and unmatched packets into per-flow aggregates.
type diffAcc struct {
	sum   DiffSummary
	flows []*diffFlowAcc // by flow id
}

func (a *diffAcc) flow(f int32) *diffFlowAcc {
	for int(f) >= len(a.flows) {
		a.flows = append(a.flows, nil)
	}
	if a.flows[f] == nil {
		a.flows[f] = &diffFlowAcc{}
	}
	return a.flows[f]
}

// count takes every packet of side s as it arrives.
func (a *diffAcc) count(s int, r *diffRec) {
	fa := a.flow(r.flow)
	if s == 0 {
		a.sum.GoodPackets++
		fa.fd.GoodPackets++
		return
	}
	a.sum.BadPackets++
	fa.fd.BadPackets++
	if r.fate == FateDropped && r.hasRsn {
		if fa.drops == nil {
			fa.drops = map[uint32]int{}
		}
		fa.drops[r.reason]++
	}
}

// pair compares a matched pair.
func (a *diffAcc) pair(g, b *diffRec, byID bool) {
	sm := &a.sum
	fa := a.flow(g.flow)
	sm.Matched++
	if byID {
		sm.MatchedByID++
	} else {
		sm.MatchedByOrd++
	}
	if g.shape == b.shape && g.fate == b.fate && g.reason == b.reason {
		fa.fd.SamePath++
		sm.SamePath++
		return
	}
	sm.Diverged++
	if fa.divs == nil {
		fa.divs = map[[2]int32]*divAcc{}
	}
	k := [2]int32{g.shape, b.shape}
	dv := fa.divs[k]
	if dv == nil {
		dv = &divAcc{first: g.first, good: *g, bad: *b}
		fa.divs[k] = dv
	} else if g.first < dv.first {
		dv.first, dv.good, dv.bad = g.first, *g, *b
	}
	dv.n++
}

// only counts a packet without a partner.
func (a *diffAcc) only(s int, r *diffRec) {
	fa := a.flow(r.flow)
	if s == 0 {
		fa.fd.OnlyGood++
		a.sum.OnlyGood++
	} else {
		fa.fd.OnlyBad++
		a.sum.OnlyBad++
	}
}
