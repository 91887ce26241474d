package analyze

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// runPairer feeds good and bad to a pairer in the order its pacing asks
// for, as streamDiff does, and returns what happened to every packet:
// "id g0 b1" (matched by identity), "ord g2 b0" (by order), "good g3" /
// "bad b4" (no partner), sorted. Packets are named by their index.
func runPairer(good, bad []diffRec) (events []string, peak [2]int) {
	for i := range good {
		good[i].first = uint64(i)
	}
	for i := range bad {
		bad[i].first = uint64(i)
	}
	p := newPairer(func(g, b *diffRec, byID bool) {
		how := "ord"
		if byID {
			how = "id"
		}
		events = append(events, fmt.Sprintf("%s g%d b%d", how, g.first, b.first))
	}, func(s int, r *diffRec) {
		events = append(events, fmt.Sprintf("%s %c%d", [2]string{"good", "bad"}[s], "gb"[s], r.first))
	})
	in := [2][]diffRec{good, bad}
	for !p.side[0].ended || !p.side[1].ended {
		s := p.next()
		if len(in[s]) == 0 {
			p.end(s)
			continue
		}
		p.add(s, &in[s][0])
		in[s] = in[s][1:]
	}
	slices.Sort(events)
	return events, [2]int{p.side[0].peak, p.side[1].peak}
}

func recID(flow int32, ident uint64) diffRec {
	return diffRec{flow: flow, ident: ident, hasIdent: true}
}
func recNoID(flow int32) diffRec { return diffRec{flow: flow} }

// recs returns n packets of flow f with identities from base on.
func recs(f int32, n int, base uint64) []diffRec {
	r := make([]diffRec, n)
	for i := range r {
		r[i] = recID(f, base+uint64(i))
	}
	return r
}

// roundRobin returns n packets of each of flows flows, one of each flow
// in turn, with identities from base on.
func roundRobin(flows, n int, base uint64) []diffRec {
	r := make([]diffRec, 0, flows*n)
	for i := range n {
		for f := range flows {
			r = append(r, recID(int32(f), base+uint64(i)))
		}
	}
	return r
}

func TestPairer(t *testing.T) {
	tests := []struct {
		name      string
		good, bad []diffRec
		want      []string
	}{
		{
			name: "identity first, whatever the order",
			good: []diffRec{recID(0, 1), recID(0, 2), recID(0, 3)},
			bad:  []diffRec{recID(0, 3), recID(0, 1)},
			want: []string{"good g1", "id g0 b1", "id g2 b0"},
		},
		{
			// UDP datagrams get new IPv4 IDs in every run: they pair by order.
			name: "identities that differ between runs fall back to order",
			good: []diffRec{recID(0, 10), recID(0, 11), recID(0, 12)},
			bad:  []diffRec{recID(0, 20), recID(0, 21), recID(0, 22)},
			want: []string{"ord g0 b0", "ord g1 b1", "ord g2 b2"},
		},
		{
			name: "leftovers pair in order within their own flow only",
			good: []diffRec{recID(0, 1), recNoID(1), recID(0, 7), recNoID(1)},
			bad:  []diffRec{recNoID(1), recID(0, 1), recID(0, 9), recID(2, 5)},
			want: []string{"bad b3", "good g3", "id g0 b1", "ord g1 b0", "ord g2 b2"},
		},
		{
			name: "repeated identities pair by occurrence",
			good: []diffRec{recID(0, 4), recID(0, 4)},
			bad:  []diffRec{recID(0, 4)},
			want: []string{"good g1", "id g0 b0"},
		},
		{
			// (The whole-capture matching before the streaming one gave
			// the third occurrence the second's key.)
			name: "an identity seen three times pairs by occurrence",
			good: []diffRec{recID(0, 4), recID(0, 4), recID(0, 4)},
			bad:  []diffRec{recID(0, 4), recID(0, 4), recID(0, 4), recNoID(0)},
			want: []string{"bad b3", "id g0 b0", "id g1 b1", "id g2 b2"},
		},
		{
			name: "empty good capture",
			bad:  []diffRec{recID(0, 4), recNoID(1)},
			want: []string{"bad b0", "bad b1"},
		},
		{
			name: "empty bad capture",
			good: []diffRec{recNoID(1)},
			want: []string{"good g0"},
		},
		{
			name: "a flow only in one capture",
			good: []diffRec{recNoID(0), recNoID(1), recNoID(0)},
			bad:  []diffRec{recNoID(0), recNoID(0)},
			want: []string{"good g1", "ord g0 b0", "ord g2 b1"},
		},
		{
			name: "truncated bad capture: the rest is only in good",
			good: recs(0, 5, 100),
			bad:  recs(0, 2, 100),
			want: []string{"good g2", "good g3", "good g4", "id g0 b0", "id g1 b1"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, _ := runPairer(tt.good, tt.bad)
			if d := cmp.Diff(tt.want, got); d != "" {
				t.Errorf("(-want +got):\n%s", d)
			}
		})
	}
}

// refPairs is the whole-capture matching the pairer streams: identity
// (flow, ident, occurrence) first, then the rest of each flow by order.
// Within the windows, the pairer must agree with it.
func refPairs(good, bad []diffRec) []string {
	type key struct {
		flow  int32
		ident uint64
		occ   int
	}
	keys := func(rs []diffRec) []key {
		ks := make([]key, len(rs))
		seen := map[key]int{}
		for i, r := range rs {
			if !r.hasIdent {
				ks[i].flow = -1
				continue
			}
			k := key{flow: r.flow, ident: r.ident}
			k.occ = seen[k]
			seen[key{flow: r.flow, ident: r.ident}]++
			ks[i] = k
		}
		return ks
	}
	var out []string
	bIndex := map[key]int{}
	for j, k := range keys(bad) {
		if k.flow >= 0 {
			bIndex[k] = j
		}
	}
	gDone, bDone := make([]bool, len(good)), make([]bool, len(bad))
	for i, k := range keys(good) {
		if j, ok := bIndex[k]; ok && k.flow >= 0 {
			out = append(out, fmt.Sprintf("id g%d b%d", i, j))
			gDone[i], bDone[j] = true, true
		}
	}
	rest := map[int32][]int{}
	for j, r := range bad {
		if !bDone[j] {
			rest[r.flow] = append(rest[r.flow], j)
		}
	}
	for i, r := range good {
		if gDone[i] {
			continue
		}
		if q := rest[r.flow]; len(q) > 0 {
			out = append(out, fmt.Sprintf("ord g%d b%d", i, q[0]))
			bDone[q[0]] = true
			rest[r.flow] = q[1:]
		} else {
			out = append(out, fmt.Sprintf("good g%d", i))
		}
	}
	for j := range bad {
		if !bDone[j] {
			out = append(out, fmt.Sprintf("bad b%d", j))
		}
	}
	slices.Sort(out)
	return out
}

// TestPairerMatchesWholeCapture: random captures smaller than the
// windows pair exactly as matching the whole captures at once does.
func TestPairerMatchesWholeCapture(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	// Few identities repeat (TCP duplicate ACKs); many rarely do.
	gen := func(n, flows, idents int) []diffRec {
		rs := make([]diffRec, n)
		for i := range rs {
			f := int32(rng.IntN(flows))
			if rng.IntN(3) == 0 {
				rs[i] = recNoID(f)
			} else {
				rs[i] = recID(f, uint64(rng.IntN(idents)))
			}
		}
		return rs
	}
	for i := range 2000 {
		flows, idents := 1+rng.IntN(4), []int{3, 40}[rng.IntN(2)]
		good, bad := gen(rng.IntN(200), flows, idents), gen(rng.IntN(200), flows, idents)
		want := refPairs(good, bad)
		got, _ := runPairer(slices.Clone(good), slices.Clone(bad))
		if d := cmp.Diff(want, got); d != "" {
			t.Fatalf("case %d (%d good, %d bad packets) (-want +got):\n%s", i, len(good), len(bad), d)
		}
	}
}

// TestPairerBounded: long captures keep only a window of packets waiting,
// and what the windows decide is documented in pairer.expired.
func TestPairerBounded(t *testing.T) {
	const n = 60000
	interleave := func(a, b []diffRec) []diffRec {
		out := make([]diffRec, 0, len(a)+len(b))
		for i := range max(len(a), len(b)) {
			if i < len(a) {
				out = append(out, a[i])
			}
			if i < len(b) {
				out = append(out, b[i])
			}
		}
		return out
	}
	count := func(events []string, prefix string) int {
		k := 0
		for _, e := range events {
			if len(e) >= len(prefix) && e[:len(prefix)] == prefix {
				k++
			}
		}
		return k
	}
	tests := []struct {
		name      string
		good, bad []diffRec
		// want counts events by prefix: "id ", "ord ", "good ", "bad ".
		want    map[string]int
		maxWait int
	}{
		{
			name:    "identities differ in every packet (UDP)",
			good:    recs(0, n, 0),
			bad:     recs(0, n, 1<<32),
			want:    map[string]int{"ord ": n},
			maxWait: diffFlowWindow + 2,
		},
		{
			name:    "a flow only in the bad capture",
			good:    recs(0, n, 0),
			bad:     interleave(recs(0, n, 0), recs(1, n, 0)),
			want:    map[string]int{"id ": n, "bad ": n},
			maxWait: diffIdleWindow + diffSweepEvery,
		},
		{
			name:    "an extra packet early in the good run",
			good:    append([]diffRec{recID(0, 1<<40)}, recs(0, n, 0)...),
			bad:     recs(0, n, 0),
			want:    map[string]int{"id ": n, "good ": 1},
			maxWait: diffFlowWindow + 2,
		},
		{
			// Each flow stays within its windows; together they
			// would not.
			name:    "many flows whose identities all differ",
			good:    roundRobin(2000, 100, 0),
			bad:     roundRobin(2000, 100, 1<<32),
			want:    map[string]int{"ord ": 200000},
			maxWait: diffMaxWaiting + 2*diffSweepEvery,
		},
		{
			name: "twice as many packets in the bad run's flow",
			good: interleave(recs(0, n, 0), recs(1, n, 0)),
			bad:  interleave(recs(0, n, 0), interleave(recs(1, n, 1<<32), recs(1, n, 1<<33))),
			// Flow 0 pairs by identity; flow 1's packets pair by order
			// with the bad run's recent ones, the others are only in bad.
			want:    map[string]int{"id ": n, "ord ": n, "bad ": n},
			maxWait: diffOwnWindow + diffFlowWindow + 2*diffPaceCap,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, peak := runPairer(tt.good, tt.bad)
			for prefix, w := range tt.want {
				if c := count(got, prefix); c != w {
					t.Errorf("%q events = %d, want %d", prefix, c, w)
				}
			}
			total := 0
			for _, w := range tt.want {
				total += w
			}
			if len(got) != total {
				t.Errorf("%d events, want %d", len(got), total)
			}
			if peak[0] > tt.maxWait || peak[1] > tt.maxWait {
				t.Errorf("peak waiting packets = %v, want at most %d", peak, tt.maxWait)
			}
			t.Logf("peak waiting: good %d, bad %d", peak[0], peak[1])
		})
	}
}
