package tracer

import (
	"testing"
)

func TestStatusKB(t *testing.T) {
	status := "Name:\tpwru-record\nVmPeak:\t 1234 kB\nVmHWM:\t   81300 kB\nVmRSS:\t   60000 kB\nThreads:\t7\nBad:\t12 MB\n"
	tests := []struct {
		key  string
		want int64
	}{
		{"VmHWM", 81300},
		{"VmRSS", 60000},
		{"VmPeak", 1234},
		{"Threads", 0}, // no unit
		{"Bad", 0},
		{"VmSwap", 0},
	}
	for _, tt := range tests {
		t.Run(tt.key, func(t *testing.T) {
			if got := statusKB([]byte(status), tt.key); got != tt.want {
				t.Errorf("statusKB(%s) = %d, want %d", tt.key, got, tt.want)
			}
		})
	}
}

func TestPhases(t *testing.T) {
	ps := Phases{
		{Name: "read kallsyms", Took: 900_000_000, Concurrent: true},
		{Name: "discovery", Took: 1_200_000_000, Memory: Memory{RSS: 30 << 20, Anon: 20 << 20, Go: 18 << 20, Peak: 41 << 20}},
		{Name: "load", Took: 300_000_000, Memory: Memory{RSS: 35 << 20, Anon: 25 << 20, Go: 22 << 20, Peak: 41 << 20}},
	}
	if got, want := ps.String(), "discovery 1.2s (read kallsyms 900ms concurrently), load 300ms"; got != want {
		t.Errorf("String() = %q, want %q", got, want)
	}
	if got, want := ps.MemoryString(), "discovery 30.0/20.0/18.0/41.0, load 35.0/25.0/22.0/41.0"; got != want {
		t.Errorf("MemoryString() = %q, want %q", got, want)
	}
	if got, want := ps.Total(), ps.Took("discovery")+ps.Took("load"); got != want {
		t.Errorf("Total() = %v, want %v", got, want)
	}
}

// synthKallsyms makes n lines shaped like /proc/kallsyms.
