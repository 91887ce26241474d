package tracer

import "time"

// ProgressKind says what a [ProgressEvent] reports.
type ProgressKind int

// Kinds of [ProgressEvent].
const (
	// ProgressAttach: Done of Total function probes are attached (or
	// failed to); sent as attaching goes on.
	ProgressAttach ProgressKind = iota
	// ProgressAttachDone: attaching the function probes ended (Total
	// probes tried). Sent once, also when there was nothing to attach.
	ProgressAttachDone
	// ProgressStatus: the recording so far (Stats, at At), once per drain
	// tick; Probes is the number of probes attached.
	ProgressStatus
	// ProgressEnd: recording ended; no status follows.
	ProgressEnd
)

// ProgressEvent is one report to [Config.Progress]. Events come from one
// goroutine at a time, in order.
type ProgressEvent struct {
	Kind        ProgressKind
	Done, Total int       // ProgressAttach, ProgressAttachDone
	Stats       Stats     // ProgressStatus
	Probes      int       // ProgressStatus
	At          time.Time // ProgressStatus: when Stats was taken
}

// progress reports attach progress to a Config.Progress callback; the
// zero value (or a nil emit) reports nothing. Not safe for concurrent
// use.
type progress struct {
	emit  func(ProgressEvent)
	total int
	n     int
}

func newProgress(cfg *Config, total int) *progress {
	return &progress{emit: cfg.Progress, total: total}
}

func (p *progress) add(n int) {
	p.n += n
	if p.emit != nil {
		p.emit(ProgressEvent{Kind: ProgressAttach, Done: p.n, Total: p.total})
	}
}

func (p *progress) done() {
	if p.emit != nil {
		p.emit(ProgressEvent{Kind: ProgressAttachDone, Done: p.n, Total: p.total})
	}
}
