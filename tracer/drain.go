package tracer

import (
	"context"
	"errors"
	"fmt"
	"os"
	"reflect"
	"sync"
	"time"

	"github.com/cilium/ebpf/ringbuf"

	"github.com/pwru-record/pwru-record/format"
)

// Ring is the source of ring buffer records: a *ringbuf.Reader when
// recording, a fake in tests. ReadInto blocks until a record arrives, the
// deadline passes ([os.ErrDeadlineExceeded]) or Flush was called and the
// pending records were read ([ringbuf.ErrFlushed]).
type Ring interface {
	ReadInto(rec *ringbuf.Record) error
	SetDeadline(t time.Time)
	Flush() error
}

// LossSource reads the kernel program's loss counters.
type LossSource interface {
	// Losses returns the failed ring buffer reservations per CPU and the
	// other named counters.
	Losses() (perCPU []uint64, other map[string]uint64, err error)
}

// Stop reasons reported in [Stats.StopReason].
const (
	StopInterrupted = "interrupted"
	StopDuration    = "duration"
	StopMaxEvents   = "max-events"
	StopMaxSize     = "max-size"
)

// Stats describes a recording so far.
type Stats struct {
	Events     uint64        // events written
	Lost       uint64        // events the kernel could not hand over (ring buffer full)
	Bytes      int64         // capture bytes written
	Elapsed    time.Duration // since the drain started
	StopReason string        // why the drain ended ("" while running)
}

type drainOptions struct {
	MaxEvents    uint64        // 0 = unlimited
	MaxSize      int64         // bytes, 0 = unlimited
	Duration     time.Duration // 0 = unlimited
	Tick         time.Duration // idle wake-up period (default 500ms)
	StopDrain    time.Duration // longest final drain after a stop (default 1s)
	ProbesFailed uint32
	Status       func(Stats) // called every tick; may be nil
}

type drainer struct {
	ring   Ring
	dec    *decoder
	losses LossSource
	opts   drainOptions

	start    time.Time
	lost     uint64
	lastLoss *format.Losses // last stored, to store only changes
	skipped  uint64         // records read after a limit was reached, not written
	bad      uint64         // records without the kernel program's layout, not written
	reason   string
}

// drain reads records until ctx is done or a limit is reached, writing
// them through the decoder. It does not close the writer.
func (d *drainer) run(ctx context.Context) (Stats, error) {
	if d.opts.Tick <= 0 {
		d.opts.Tick = 500 * time.Millisecond
	}
	if d.opts.StopDrain <= 0 {
		d.opts.StopDrain = time.Second
	}
	d.start = time.Now()
	var end time.Time
	if d.opts.Duration > 0 {
		end = d.start.Add(d.opts.Duration)
	}

	// A cancelled context flushes the ring: ReadInto returns what is
	// pending, then ErrFlushed.
	var once sync.Once
	stopCh := make(chan struct{})
	defer close(stopCh)
	go func() {
		select {
		case <-ctx.Done():
			once.Do(func() { _ = d.ring.Flush() })
		case <-stopCh:
		}
	}()

	var (
		rec       ringbuf.Record
		reason    string
		stopBy    time.Time
		nextTick  = d.start.Add(d.opts.Tick)
		sinceTime int
	)
	d.ring.SetDeadline(nextTick)
	stop := func(r string) {
		if reason == "" {
			reason = r
			d.reason = r
			stopBy = time.Now().Add(d.opts.StopDrain)
			once.Do(func() { _ = d.ring.Flush() })
		}
	}
	for {
		err := d.ring.ReadInto(&rec)
		switch {
		case err == nil:
			if d.opts.MaxEvents > 0 && d.dec.w.Stats().Events >= d.opts.MaxEvents {
				stop(StopMaxEvents)
			}
			if reason == StopMaxEvents || reason == StopMaxSize {
				d.skipped++
				continue
			}
			if err := d.dec.decode(rec.RawSample); errors.Is(err, ErrBadRecord) {
				d.bad++
			} else if err != nil {
				return d.stats(reason), fmt.Errorf("write event: %w", err)
			}
			sinceTime++
			if sinceTime < 1024 {
				continue
			}
			sinceTime = 0
			now := time.Now()
			if reason != "" && now.After(stopBy) {
				return d.stats(reason), nil
			}
			if now.After(nextTick) {
				if err := d.tick(now, end, stop); err != nil {
					return d.stats(reason), err
				}
				nextTick = now.Add(d.opts.Tick)
				d.ring.SetDeadline(nextTick)
			}
		case errors.Is(err, os.ErrDeadlineExceeded):
			now := time.Now()
			if err := d.tick(now, end, stop); err != nil {
				return d.stats(reason), err
			}
			nextTick = now.Add(d.opts.Tick)
			d.ring.SetDeadline(nextTick)
		case errors.Is(err, ringbuf.ErrFlushed):
			if reason == "" {
				reason = StopInterrupted
			}
			return d.stats(reason), d.updateLosses()
		case errors.Is(err, ringbuf.ErrClosed):
			if reason == "" {
				reason = StopInterrupted
			}
			return d.stats(reason), d.updateLosses()
		default:
			return d.stats(reason), fmt.Errorf("read ring buffer: %w", err)
		}
	}
}

// tick does the periodic work: flush, losses, limits, status.
func (d *drainer) tick(now, end time.Time, stop func(string)) error {
	if err := d.dec.w.Flush(); err != nil {
		return fmt.Errorf("flush capture: %w", err)
	}
	if err := d.updateLosses(); err != nil {
		return err
	}
	if !end.IsZero() && !now.Before(end) {
		stop(StopDuration)
	}
	if d.opts.MaxSize > 0 && d.dec.w.Stats().Bytes >= d.opts.MaxSize {
		stop(StopMaxSize)
	}
	if d.opts.Status != nil {
		d.opts.Status(d.stats(""))
	}
	return nil
}

func (d *drainer) updateLosses() error {
	l := format.Losses{ProbesFailed: d.opts.ProbesFailed, Other: map[string]uint64{}}
	if d.losses != nil {
		perCPU, other, err := d.losses.Losses()
		if err != nil {
			return fmt.Errorf("read loss counters: %w", err)
		}
		l.RingbufLost = perCPU
		for k, v := range other {
			if v != 0 {
				l.Other[k] = v
			}
		}
	}
	if d.skipped > 0 {
		l.Other["not_written_"+d.reason] = d.skipped
	}
	if d.bad > 0 {
		l.Other["bad_record"] = d.bad
	}
	d.lost = l.TotalLost()
	if d.lastLoss != nil && reflect.DeepEqual(*d.lastLoss, l) {
		return nil
	}
	d.lastLoss = &l
	if err := d.dec.w.SetLosses(&l); err != nil {
		return fmt.Errorf("store losses: %w", err)
	}
	return nil
}

func (d *drainer) stats(reason string) Stats {
	ws := d.dec.w.Stats()
	return Stats{
		Events:     ws.Events,
		Lost:       d.lost,
		Bytes:      ws.Bytes,
		Elapsed:    time.Since(d.start),
		StopReason: reason,
	}
}
