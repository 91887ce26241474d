package tracer

import (
	"errors"
	"fmt"
	"runtime/debug"
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
	// Now reads the kernel clock of the records: with it, the drain's
	// tick fires a Manual trigger and completes a capture whose After
	// has passed while no record comes (an idle host); nil = only
	// records do.
	Now func() uint64
	// Open starts the capture of a trigger fired at t for reason by the
	// record rec (nil for a trigger by hand; only valid during the call).
	Open func(reason string, t uint64, rec []byte) (*format.Writer, error)
}

// flightIdleSlack is how long past the end of a capture the tick waits
// for records still on their way before it completes the capture.
const flightIdleSlack = 100 * time.Millisecond

// flightState is the drain's flight recorder progress.
type flightState struct {
	capturing bool
	until     uint64 // kernel time the current capture ends
	holdUntil uint64 // no new trigger before this kernel time
	triggers  int
	lastTime  uint64 // newest record time seen
	records   uint64 // records seen
	tickSeen  uint64 // records at the previous tick
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
	fs.records++
	if fs.capturing {
		if t <= fs.until {
			return d.decodeInto(rec)
		}
		if err := d.flightClose(); err != nil {
			return err
		}
	}
	fo.Window.add(t, rec)
	reason, by := fo.Trigger(rec), rec
	if reason == "" {
		select {
		case <-fo.Manual:
			reason, by = "signal", nil
		default:
		}
	}
	if reason == "" || !d.flightMayTrigger(t) {
		return nil
	}
	return d.flightOpen(reason, t, by)
}

// flightMayTrigger says whether a trigger at t starts a capture: not in
// the hold-off, not after MaxTriggers.
func (d *drainer) flightMayTrigger(t uint64) bool {
	fo, fs := d.opts.Flight, &d.flight
	return t >= fs.holdUntil && (fo.MaxTriggers <= 0 || fs.triggers < fo.MaxTriggers)
}

// flightTick is the flight recorder's part of the drain's periodic work,
// for when records are rare or none come: a capture whose After has
// passed while no record came since the previous tick is completed
// (while records come, the first one past it completes it), and a
// trigger by hand acts now.
func (d *drainer) flightTick() error {
	fo, fs := d.opts.Flight, &d.flight
	if fo.Now == nil {
		return nil
	}
	now := fo.Now()
	idle := fs.records == fs.tickSeen
	fs.tickSeen = fs.records
	if fs.capturing && idle && now > fs.until+uint64(flightIdleSlack) {
		fs.lastTime = max(fs.lastTime, fs.until)
		if err := d.flightClose(); err != nil {
			return err
		}
	}
	if fs.capturing {
		return nil
	}
	select {
	case <-fo.Manual:
	default:
		return nil
	}
	if !d.flightMayTrigger(now) {
		return nil
	}
	return d.flightOpen("signal", now, nil)
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
func (d *drainer) flightOpen(reason string, t uint64, rec []byte) error {
	fo, fs := d.opts.Flight, &d.flight
	w, err := fo.Open(reason, t, rec)
	if err != nil {
		return fmt.Errorf("start flight recorder capture: %w", err)
	}
	fs.triggers++
	fs.capturing = true
	fs.until = t + uint64(fo.After)
	// The kernel's loss counters so far are not this capture's: they
	// become the base.
	d.lastLoss = nil
	if err := d.updateLosses(false); err != nil {
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
	if err := d.updateLosses(false); err != nil {
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
	// Writing the capture took memory the window does not keep (the
	// writer's chunk, packet and dedup buffers): give it back to the host
	// now rather than when the runtime's scavenger gets to it. Once per
	// capture, a few ms.
	debug.FreeOSMemory()
	return nil
}
