package main

import (
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/pwru-record/pwru-record/tracer"
)

// progressBar draws the recorder's progress on a terminal: an attach bar,
// then a status line redrawn every tick. Not safe for concurrent use
// (the tracer sends its events one at a time).
type progressBar struct {
	w io.Writer
	// attach bar
	drawn time.Time
	// status line
	last  tracer.Stats
	lastT time.Time
}

// barWidth is the number of cells of the attach bar.
const barWidth = 40

// event draws one progress event (tracer.Config.Progress).
func (p *progressBar) event(e tracer.ProgressEvent) {
	switch e.Kind {
	case tracer.ProgressAttach:
		if e.Total <= 0 || (time.Since(p.drawn) < 100*time.Millisecond && e.Done < e.Total) {
			return
		}
		p.drawn = time.Now()
		filled := barWidth * e.Done / e.Total
		fmt.Fprintf(p.w, "\r\033[Kattaching [%s%s] %d/%d", strings.Repeat("=", filled), strings.Repeat(" ", barWidth-filled), e.Done, e.Total)
	case tracer.ProgressAttachDone:
		if e.Total > 0 {
			fmt.Fprintln(p.w)
		}
	case tracer.ProgressStatus:
		st, now := e.Stats, e.At
		rate := 0.0
		if !p.lastT.IsZero() {
			rate = float64(st.Events-p.last.Events) / now.Sub(p.lastT).Seconds()
		}
		p.last, p.lastT = st, now
		fmt.Fprintf(p.w, "\r\033[Kevents %d (%.0f/s)  lost %d  written %s  probes %d  %s",
			st.Events, rate, st.Lost, humanBytes(st.Bytes), e.Probes, st.Elapsed.Truncate(time.Second))
	case tracer.ProgressEnd:
		fmt.Fprintln(p.w)
	}
}

// humanBytes renders a size with a binary unit.
func humanBytes(n int64) string {
	switch {
	case n >= 1<<30:
		return fmt.Sprintf("%.1f GiB", float64(n)/(1<<30))
	case n >= 1<<20:
		return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20))
	case n >= 1<<10:
		return fmt.Sprintf("%.1f KiB", float64(n)/(1<<10))
	}
	return fmt.Sprintf("%d B", n)
}
