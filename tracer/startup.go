package tracer

import (
	"bytes"
	"fmt"
	"os"
	"runtime/metrics"
	"strconv"
	"strings"
	"time"
)

// Phase is one step of a recording's startup: how long it took and the
// process's memory when it ended.
type Phase struct {
	Name string
	Took time.Duration
	// Concurrent phases ran beside the ones that follow them in the list
	// (on other goroutines); their time overlaps.
	Concurrent bool
	// Memory when the phase ended (zero for concurrent phases).
	Memory Memory
}

// Memory is a sample of the process's memory, in bytes (0 = unknown).
type Memory struct {
	RSS  int64 // VmRSS: resident now
	Anon int64 // RssAnon: the anonymous part of RSS (the Go heap, stacks)
	Peak int64 // VmHWM: the highest RSS so far
	Go   int64 // memory the Go runtime holds from the OS and has not returned
}

// String renders the sample in MiB: "rss/anon/go/peak".
func (m Memory) String() string {
	return fmt.Sprintf("%.1f/%.1f/%.1f/%.1f", mib(m.RSS), mib(m.Anon), mib(m.Go), mib(m.Peak))
}

// Phases is a startup breakdown in the order the phases ended.
type Phases []Phase

// Total is the startup's wall time: the sum of the phases that did not
// run concurrently with others.
func (ps Phases) Total() time.Duration {
	var d time.Duration
	for _, p := range ps {
		if !p.Concurrent {
			d += p.Took
		}
	}
	return d
}

// Took returns the time of the phase called name (0 if there is none).
func (ps Phases) Took(name string) time.Duration {
	for _, p := range ps {
		if p.Name == name {
			return p.Took
		}
	}
	return 0
}

// String renders the times, e.g. "discovery 1.2s (kallsyms 0.9s
// concurrently), load 300ms, attach 1s".
func (ps Phases) String() string {
	var b strings.Builder
	var conc []string
	for _, p := range ps {
		if p.Concurrent {
			conc = append(conc, p.Name+" "+p.Took.Truncate(time.Millisecond).String())
			continue
		}
		if b.Len() > 0 {
			b.WriteString(", ")
		}
		fmt.Fprintf(&b, "%s %s", p.Name, p.Took.Truncate(time.Millisecond))
		if len(conc) > 0 {
			fmt.Fprintf(&b, " (%s concurrently)", strings.Join(conc, ", "))
			conc = nil
		}
	}
	return b.String()
}

// MemoryString renders the memory after each sequential phase (see
// [Memory.String]), e.g. "discovery 30.0/20.0/18.0/41.0, load ...".
func (ps Phases) MemoryString() string {
	var parts []string
	for _, p := range ps {
		if !p.Concurrent && p.Memory.RSS > 0 {
			parts = append(parts, p.Name+" "+p.Memory.String())
		}
	}
	return strings.Join(parts, ", ")
}

func mib(n int64) float64 { return float64(n) / (1 << 20) }

// phaseClock records phases as they end. Not safe for concurrent use: a
// goroutine measures its own time and hands it to [phaseClock.add].
type phaseClock struct {
	phases Phases
	last   time.Time
}

func newPhaseClock() *phaseClock { return &phaseClock{last: time.Now()} }

// mark ends the current sequential phase, called name.
func (c *phaseClock) mark(name string) {
	m := sampleMemory()
	now := time.Now()
	c.phases = append(c.phases, Phase{Name: name, Took: now.Sub(c.last), Memory: m})
	c.last = now
}

// add records a phase that ran concurrently with the next sequential one.
func (c *phaseClock) add(name string, took time.Duration) {
	c.phases = append(c.phases, Phase{Name: name, Took: took, Concurrent: true})
}

// sampleMemory reads this process's memory from /proc/self/status and
// the Go runtime's metrics.
func sampleMemory() Memory {
	var m Memory
	if b, err := os.ReadFile("/proc/self/status"); err == nil {
		m.RSS = statusKB(b, "VmRSS") << 10
		m.Anon = statusKB(b, "RssAnon") << 10
		m.Peak = statusKB(b, "VmHWM") << 10
	}
	s := []metrics.Sample{{Name: "/memory/classes/total:bytes"}, {Name: "/memory/classes/heap/released:bytes"}}
	metrics.Read(s)
	if s[0].Value.Kind() == metrics.KindUint64 && s[1].Value.Kind() == metrics.KindUint64 {
		m.Go = int64(s[0].Value.Uint64() - s[1].Value.Uint64())
	}
	return m
}

// statusKB returns the value of the "key:   N kB" line of
// /proc/<pid>/status text b, in kB (0 if missing or malformed).
func statusKB(b []byte, key string) int64 {
	for len(b) > 0 {
		line := b
		if i := bytes.IndexByte(b, '\n'); i >= 0 {
			line, b = b[:i], b[i+1:]
		} else {
			b = nil
		}
		v, ok := bytes.CutPrefix(line, []byte(key+":"))
		if !ok {
			continue
		}
		v = bytes.TrimSpace(v)
		v, ok = bytes.CutSuffix(v, []byte("kB"))
		if !ok {
			return 0
		}
		n, err := strconv.ParseInt(string(bytes.TrimSpace(v)), 10, 64)
		if err != nil || n < 0 {
			return 0
		}
		return n
	}
	return 0
}
