package tracer

import (
	"errors"
	"fmt"
	"time"

	"github.com/pwru-record/pwru-record/format"
)

// flightOptions configure the drain as a flight recorder: records go into
// Window, and nothing is written until a trigger fires; then Open gives
// the writer of a new capture (snapshots written), the window is decoded
// into it, and the records of After (kernel time) after the trigger
// record follow; then it is completed. A trigger less than HoldOff after
// the previous capture ended starts none; after MaxTriggers (0 = no
// limit) captures, triggers are ignored.
type flightOptions struct {
	Window      *window
	After       time.Duration
	HoldOff     time.Duration
	MaxTriggers int
	// Trigger says why rec fires a trigger ("" = it does not).
	Trigger func(rec []byte) string
	// Manual fires a trigger by hand (SIGUSR1); nil = never.
	Manual <-chan struct{}
	// Open starts the capture of a trigger fired at t for reason.
	Open func(reason string, t uint64) (*format.Writer, error)
}

// flightState is the drain's flight recorder progress.
type flightState struct {
	capturing bool
	until     uint64 // kernel time the current capture ends
	holdUntil uint64 // no new trigger before this kernel time
	triggers  int
	lastTime  uint64 // newest record time seen
	files     int
}

// flightRecord handles one record in flight recorder mode.
func (d *drainer) flightRecord(rec []byte) error {
	fo, fs := d.opts.Flight, &d.flight
	if len(rec) < recordCoreSize {
		d.bad++
		return nil
	}
	t := u64at(rec, offTime)
	fs.lastTime = max(fs.lastTime, t)
	if fs.capturing {
		if t <= fs.until {
			return d.decodeInto(rec)
		}
		if err := d.flightClose(); err != nil {
			return err
		}
	}
	fo.Window.add(t, rec)
	reason := fo.Trigger(rec)
	if reason == "" {
		select {
		case <-fo.Manual:
			reason = "signal"
		default:
		}
	}
	if reason == "" || t < fs.holdUntil || (fo.MaxTriggers > 0 && fs.triggers >= fo.MaxTriggers) {
		return nil
	}
	return d.flightOpen(reason, t)
}

func (d *drainer) decodeInto(rec []byte) error {
	if err := d.dec.decode(rec); errors.Is(err, ErrBadRecord) {
		d.bad++
	} else if err != nil {
		return fmt.Errorf("write event: %w", err)
	}
	return nil
}

// flightOpen starts the capture of a trigger at t: the window, then what
// follows for After.
func (d *drainer) flightOpen(reason string, t uint64) error {
	fo, fs := d.opts.Flight, &d.flight
	w, err := fo.Open(reason, t)
	if err != nil {
		return fmt.Errorf("start flight recorder capture: %w", err)
	}
	fs.triggers++
	fs.capturing = true
	fs.until = t + uint64(fo.After)
	// The kernel's loss counters so far are not this capture's: they
	// become the base.
	d.lastLoss = nil
	if err := d.updateLosses(); err != nil {
		return err
	}
	d.addBase(d.lastLoss)
	d.lastLoss = nil
	d.dec.reset(w)
	// The window holds whole chunks: records older than its age before
	// the trigger are left out, and with what the window let go of before
	// they are this capture's loss.
	var since uint64
	if age := fo.Window.maxAge; age > 0 && t > age {
		since = t - age
	}
	err = fo.Window.drain(since, d.decodeInto)
	d.windowEvicted = fo.Window.dropped
	fo.Window.dropped = 0
	return err
}

// flightClose completes the current capture.
func (d *drainer) flightClose() error {
	fs := &d.flight
	fs.capturing = false
	fs.holdUntil = fs.lastTime + uint64(d.opts.Flight.HoldOff)
	d.lastLoss = nil
	if err := d.updateLosses(); err != nil {
		return err
	}
	w := d.dec.w
	if err := w.Close(); err != nil {
		return fmt.Errorf("complete flight recorder capture: %w", err)
	}
	fs.files++
	d.prevEvents += w.Stats().Events
	d.prevBytes += w.Stats().Bytes
	d.addBase(d.lastLoss)
	d.lastLoss = nil
	d.windowEvicted = 0
	d.dec.reset(d.idle)
	return nil
}
