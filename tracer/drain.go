package tracer

import (
	"context"
	"errors"
	"fmt"
	"os"
	"reflect"
	"slices"
	"sync"
	"time"

	"github.com/cilium/ebpf/ringbuf"

	"github.com/pwru-record/pwru-record/format"
)

// recordSource is the source of ring buffer records: a *ringbuf.Reader when
// recording, a fake in tests. ReadInto blocks until a record arrives, the
// deadline passes ([os.ErrDeadlineExceeded]) or Flush was called and the
// pending records were read ([ringbuf.ErrFlushed]).
type recordSource interface {
	ReadInto(rec *ringbuf.Record) error
	SetDeadline(t time.Time)
	Flush() error
}

// lossSource reads the kernel program's loss counters.
type lossSource interface {
	// Losses returns the failed ring buffer reservations per CPU and the
	// other named counters. periodic says the read is the idle tick's,
	// which may reuse counters that are costly to read (see mapLosses);
	// the reads at a stop, a rotation or a flight capture are exact.
	Losses(periodic bool) (perCPU []uint64, other map[string]uint64, err error)
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

	// RotateSize > 0: once the current file has this many bytes beyond
	// its header and snapshots (which every file repeats), its
	// losses are stored, it is closed, and NextFile gives the writer of
	// the next file (its header and snapshots already written).
	RotateSize int64
	// RotateEvery > 0: also once the current file is this old.
	RotateEvery time.Duration
	NextFile    func() (*format.Writer, error)

	// Flight != nil: flight recorder mode (flight.go).
	Flight *flightOptions
}

type drainer struct {
	ring   recordSource
	dec    *decoder
	losses lossSource
	opts   drainOptions

	start    time.Time
	lost     uint64
	lastLoss *format.Losses // last stored, to store only changes
	skipped  uint64         // records read after a limit was reached, not written
	bad      uint64         // records without the kernel program's layout, not written
	reason   string

	// Rotation: what the files before the current one hold, and the
	// cumulative loss counters when the current file started (each file
	// stores its own share, so that the files' losses add up).
	files      int
	prevEvents uint64
	prevBytes  int64
	baseCPU    []uint64
	baseOther  map[string]uint64
	rotateDue  bool
	fileBase   int64     // bytes of the current file before its first event (header and snapshots)
	fileStart  time.Time // when the current file started

	flight        flightState
	idle          *format.Writer // flight recorder: the writer between captures (never gets events)
	windowEvicted uint64         // flight recorder: records the window let go of before the current capture's trigger
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
	d.fileBase = d.dec.w.Stats().Bytes
	d.fileStart = d.start
	d.idle = d.dec.w
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
			if d.opts.MaxEvents > 0 && d.prevEvents+d.dec.w.Stats().Events >= d.opts.MaxEvents {
				stop(StopMaxEvents)
			}
			if reason == StopMaxEvents || reason == StopMaxSize {
				d.skipped++
				continue
			}
			if d.rotateDue {
				// Rotated when the next record comes: no file is left
				// empty at the end.
				if err := d.rotate(); err != nil {
					return d.stats(reason), err
				}
			}
			if d.dec.carry != nil {
				d.dec.carry.note(rec.RawSample)
			}
			if d.opts.Flight != nil {
				if err := d.flightRecord(rec.RawSample); err != nil {
					return d.stats(reason), err
				}
			} else if err := d.decodeInto(rec.RawSample); err != nil {
				return d.stats(reason), err
			}
			sinceTime++
			if sinceTime < 1024 {
				continue
			}
			sinceTime = 0
			if err := d.maybeRotate(); err != nil {
				return d.stats(reason), err
			}
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
		case errors.Is(err, ringbuf.ErrFlushed), errors.Is(err, ringbuf.ErrClosed):
			if reason == "" {
				reason = StopInterrupted
			}
			// The last loss counters first: the stats must count them.
			err := d.updateLosses(false)
			return d.stats(reason), err
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
	if err := d.updateLosses(true); err != nil {
		return err
	}
	if !end.IsZero() && !now.Before(end) {
		stop(StopDuration)
	}
	if d.opts.MaxSize > 0 && d.prevBytes+d.dec.w.Stats().Bytes >= d.opts.MaxSize {
		stop(StopMaxSize)
	}
	if err := d.maybeRotate(); err != nil {
		return err
	}
	if d.opts.Flight != nil {
		if err := d.flightTick(); err != nil {
			return err
		}
	}
	if d.opts.Status != nil {
		d.opts.Status(d.stats(""))
	}
	return nil
}

func (d *drainer) updateLosses(periodic bool) error {
	l := format.Losses{ProbesFailed: d.opts.ProbesFailed, Other: map[string]uint64{}}
	if d.losses != nil {
		perCPU, other, err := d.losses.Losses(periodic)
		if err != nil {
			return fmt.Errorf("read loss counters: %w", err)
		}
		l.RingbufLost = slices.Clone(perCPU)
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
	if c := d.dec.carry; c != nil && c.missing > 0 {
		l.Other["payload_not_carried"] = c.missing
	}
	// This file's share: the counters less what the earlier files stored.
	for i := range l.RingbufLost {
		if i < len(d.baseCPU) {
			l.RingbufLost[i] -= d.baseCPU[i]
		}
	}
	for k, v := range d.baseOther {
		if l.Other[k] -= v; l.Other[k] == 0 {
			delete(l.Other, k)
		}
	}
	if d.windowEvicted > 0 {
		l.Other["flight_window_evicted"] = d.windowEvicted
	}
	d.lost = d.prevLost() + l.TotalLost()
	if d.lastLoss != nil && reflect.DeepEqual(*d.lastLoss, l) {
		return nil
	}
	d.lastLoss = &l
	if err := d.dec.w.SetLosses(&l); err != nil {
		return fmt.Errorf("store losses: %w", err)
	}
	return nil
}

// prevLost is the ring buffer losses stored in the files before the
// current one.
func (d *drainer) prevLost() uint64 {
	var n uint64
	for _, v := range d.baseCPU {
		n += v
	}
	return n
}

// maybeRotate notes that the current file is full: the next record goes
// to the next file.
func (d *drainer) maybeRotate() error {
	if d.opts.NextFile == nil {
		return nil
	}
	if d.opts.RotateSize > 0 && d.dec.w.Stats().Bytes-d.fileBase >= d.opts.RotateSize {
		d.rotateDue = true
	}
	if d.opts.RotateEvery > 0 && time.Since(d.fileStart) >= d.opts.RotateEvery {
		d.rotateDue = true
	}
	return nil
}

// rotate completes the current file and moves to the next.
func (d *drainer) rotate() error {
	d.rotateDue = false
	// The last losses of this file, with the counters as they are now:
	// they become the next file's base.
	d.lastLoss = nil
	if err := d.updateLosses(false); err != nil {
		return err
	}
	stored := d.lastLoss
	old := d.dec.w
	if err := old.Close(); err != nil {
		return fmt.Errorf("complete capture file %d: %w", d.files+1, err)
	}
	ws := old.Stats()
	d.prevEvents += ws.Events
	d.prevBytes += ws.Bytes
	w, err := d.opts.NextFile()
	if err != nil {
		return fmt.Errorf("rotate capture: %w", err)
	}
	d.files++
	d.addBase(stored)
	d.lastLoss = nil
	d.dec.reset(w)
	d.fileBase = w.Stats().Bytes
	d.fileStart = time.Now()
	return nil
}

// addBase adds the losses a file stored to the base the next file's
// losses are counted from.
func (d *drainer) addBase(stored *format.Losses) {
	for i, v := range stored.RingbufLost {
		if i >= len(d.baseCPU) {
			d.baseCPU = append(d.baseCPU, 0)
		}
		d.baseCPU[i] += v
	}
	if d.baseOther == nil {
		d.baseOther = make(map[string]uint64)
	}
	for k, v := range stored.Other {
		if k != "flight_window_evicted" {
			d.baseOther[k] += v
		}
	}
}

func (d *drainer) stats(reason string) Stats {
	ws := d.dec.w.Stats()
	return Stats{
		Events:     d.prevEvents + ws.Events,
		Lost:       d.lost,
		Bytes:      d.prevBytes + ws.Bytes,
		Elapsed:    time.Since(d.start),
		StopReason: reason,
	}
}
