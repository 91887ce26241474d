package tracer

import (
	"fmt"
	"io"
	"strings"
	"time"
)

// progress draws an attach progress bar on a terminal; elsewhere it stays
// silent. Not safe for concurrent use.
type progress struct {
	w     io.Writer
	total int
	n     int
	last  time.Time
	on    bool
}

func newProgress(cfg *Config, w io.Writer, total int) *progress {
	return &progress{w: w, total: total, on: cfg.Terminal && total > 0}
}

func (p *progress) add(n int) {
	p.n += n
	if !p.on || (time.Since(p.last) < 100*time.Millisecond && p.n < p.total) {
		return
	}
	p.last = time.Now()
	const width = 40
	filled := width * p.n / p.total
	fmt.Fprintf(p.w, "\r\033[Kattaching [%s%s] %d/%d", strings.Repeat("=", filled), strings.Repeat(" ", width-filled), p.n, p.total)
}

func (p *progress) done() {
	if p.on {
		fmt.Fprintln(p.w)
	}
}
