package analyze

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"testing"

	"github.com/pwru-record/pwru-record/analyze/analyzetest"
	"github.com/pwru-record/pwru-record/format"
)

// TestPathGroupMembers checks that a group lists each distinct skb address
// once, with its journey count, however often the address was reused.
func TestPathGroupMembers(t *testing.T) {
	tests := []struct {
		name  string
		addrs []uint64
		want  string
		json  int // distinct addresses listed
	}{
		{"one", []uint64{0xa00}, "0xa00", 1},
		{"reused", []uint64{0xa00, 0xa00, 0xa00}, "0xa00 (x3)", 1},
		{"mixed", []uint64{0xa00, 0xb00, 0xa00}, "0xa00 (x2), 0xb00", 2},
		{"three", []uint64{0xa00, 0xb00, 0xc00}, "0xa00, 0xb00, 0xc00", 3},
		{"more", []uint64{0xa00, 0xb00, 0xc00, 0xd00, 0xb00}, "0xa00, 0xb00 (x2), 0xc00, ...", 3},
		{"reused after more", []uint64{0xa00, 0xb00, 0xc00, 0xd00, 0xd00, 0xa00}, "0xa00 (x2), 0xb00, 0xc00, ...", 3},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			g := &pathGroup{}
			for _, a := range tt.addrs {
				g.add(a)
			}
			if got := g.membersText(); got != tt.want {
				t.Errorf("membersText() = %q, want %q", got, tt.want)
			}
			if len(g.members) != tt.json {
				t.Errorf("%d members, want %d", len(g.members), tt.json)
			}
			n := g.others
			for _, m := range g.members {
				n += m.count
			}
			if n != len(tt.addrs) {
				t.Errorf("members and others count %d journeys, want %d", n, len(tt.addrs))
			}
		})
	}
}

// TestPathsFlightTrigger: in a flight recorder capture, info names the
// event that fired it and paths marks the journey holding it (alone, not
// grouped with the identical journeys) and its step, in text and JSON;
// also when the trigger is the drop tracepoint's hit, which paths shows
// on the dropping function's step.
func TestPathsFlightTrigger(t *testing.T) {
	for _, tp := range []bool{false, true} {
		t.Run(fmt.Sprintf("tracepoint=%v", tp), func(t *testing.T) { testPathsFlightTrigger(t, tp) })
	}
}

func testPathsFlightTrigger(t *testing.T, tracepoint bool) {
	udp := func(sport uint16) []byte {
		return analyzetest.Ethernet(analyzetest.IPv4("10.0.0.1", "10.0.0.2", 17, sport, analyzetest.UDP(sport, 9999, []byte("x"))))
	}
	const trigSKB = 0xffff888001000300
	var trigTime uint64
	var buf bytes.Buffer
	opts := map[string]string{FlightWindow: "10s", FlightTrigger: "drop", FlightTriggerTime: "2026-01-02T03:04:05Z", FlightAfter: "2s"}
	// Times are known only once written: build twice, the second time
	// with the trigger's time in the header.
	for pass := range 2 {
		buf.Reset()
		if pass == 1 {
			opts[FlightTriggerKtime] = strconv.FormatUint(trigTime, 10)
			opts[FlightTriggerSKB] = "0x" + strconv.FormatUint(trigSKB, 16)
			opts[FlightTriggerProbe] = "kfree_skb_reason"
			if tracepoint {
				opts[FlightTriggerProbe] = "kfree_skb"
			}
			opts[FlightTriggerReason] = strconv.Itoa(analyzetest.ReasonNetfilterDrop)
		}
		b, err := analyzetest.NewBuilderOptions(&buf, 4, opts)
		if err != nil {
			t.Fatal(err)
		}
		for i, addr := range []uint64{0xffff888001000000, 0xffff888001000100, trigSKB, 0xffff888001000200} {
			s := b.NewSKB(addr, 0, analyzetest.RootNS, 2, udp(uint16(40000+i)))
			s.Hit(100, "ip_rcv")
			s.Hit(100, "nf_hook_slow")
			if tracepoint {
				s.Hit(100, "kfree_skb_reason")
				s.Hit(1, analyzetest.TracepointProbe, analyzetest.Drop(analyzetest.ReasonNetfilterDrop))
			} else {
				s.Hit(100, "kfree_skb_reason", analyzetest.Drop(analyzetest.ReasonNetfilterDrop))
			}
			if addr == trigSKB {
				trigTime = b.Now
			}
			s.Hit(100, "kfree_skbmem")
		}
		if err := b.Close(); err != nil {
			t.Fatal(err)
		}
	}
	f, err := format.NewFile(bytes.NewReader(buf.Bytes()), int64(buf.Len()), nil)
	if err != nil {
		t.Fatal(err)
	}
	c := NewCapture(f)
	var out bytes.Buffer
	if err := Info(&out, c, nil); err != nil {
		t.Fatal(err)
	}
	want := fmt.Sprintf("(%d), skb 0x%x, %s (NETFILTER_DROP)", trigTime, uint64(trigSKB), opts[FlightTriggerProbe])
	if !strings.Contains(out.String(), want) {
		t.Errorf("info does not name the trigger event %q:\n%s", want, out.String())
	}
	out.Reset()
	if err := Paths(&out, c, nil); err != nil {
		t.Fatal(err)
	}
	text := out.String()
	if strings.Count(text, "fired the flight recorder capture") != 1 || strings.Count(text, "<- trigger") != 1 {
		t.Errorf("paths marks the trigger journey not once:\n%s", text)
	}
	if !strings.Contains(text, fmt.Sprintf("(skb 0x%x)\n  fired the flight recorder capture", uint64(trigSKB))) ||
		!strings.Contains(text, "kfree_skb_reason(NETFILTER_DROP)   <- trigger") {
		t.Errorf("paths: the trigger journey is not its own group with the step marked:\n%s", text)
	}
	if !strings.Contains(text, "3 skbs:") {
		t.Errorf("paths: the other identical journeys are not one group:\n%s", text)
	}
	out.Reset()
	if err := Paths(&out, c, &PathsOptions{JSON: true}); err != nil {
		t.Fatal(err)
	}
	var fired, steps int
	for _, line := range strings.Split(strings.TrimSpace(out.String()), "\n") {
		var j JourneyJSON
		if err := json.Unmarshal([]byte(line), &j); err != nil {
			t.Fatal(err)
		}
		if j.Trigger {
			fired++
			if len(j.SKBs) != 1 || j.SKBs[0] != "0x"+strconv.FormatUint(trigSKB, 16) {
				t.Errorf("trigger journey of skbs %v", j.SKBs)
			}
		}
		for _, s := range j.Steps {
			if s.Trigger {
				steps++
				if s.Func != "kfree_skb_reason" || !j.Trigger {
					t.Errorf("trigger step %+v in journey trigger=%v", s, j.Trigger)
				}
			}
		}
	}
	if fired != 1 || steps != 1 {
		t.Errorf("paths --json: %d trigger journeys, %d trigger steps, want 1 and 1:\n%s", fired, steps, out.String())
	}
}
