package analyze

import (
	"maps"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"github.com/pwru-record/pwru-record/format"
)

// goSliceValue matches how older recorders stored a list flag: the Go
// rendering of urfave/cli's StringSlice ("{[a b] { false false} false
// false}").
var goSliceValue = regexp.MustCompile(`^\{\[([^\]]*)\] \{[^}]*\} (?:true|false) (?:true|false)\}$`)

// OptionValue returns a recorded option's value as the user would type
// it: a list as its items joined by commas.
func OptionValue(v string) string {
	if m := goSliceValue.FindStringSubmatch(v); m != nil {
		return strings.Join(strings.Fields(m[1]), ",")
	}
	return v
}

// optionIsOff reports whether a recorded value means the option was not
// used (false, empty, zero).
func optionIsOff(v string) bool {
	switch v {
	case "", "false", "0", "0s":
		return true
	}
	return false
}

// Header option keys a flight recorder capture carries (format/SPEC.md
// 4.1): the window, the trigger, its wall time and what followed it.
const (
	FlightWindow      = "flight-recorder.window"
	FlightTrigger     = "flight-recorder.trigger"
	FlightTriggerTime = "flight-recorder.trigger-time"
	FlightAfter       = "flight-recorder.trigger-after"
	// The event that fired it (absent for a trigger by hand): kernel
	// time (ns), skb address, probe name and drop reason value.
	FlightTriggerKtime  = "flight-recorder.trigger-ktime"
	FlightTriggerSKB    = "flight-recorder.trigger-skb"
	FlightTriggerProbe  = "flight-recorder.trigger-probe"
	FlightTriggerReason = "flight-recorder.trigger-drop-reason"
)

// FlightTriggerEvent is the event that fired a flight recorder capture,
// as its header names it.
type FlightTriggerEvent struct {
	Time      uint64 // kernel time, ns
	SKB       uint64
	Probe     string
	Reason    uint32
	HasReason bool
}

// FlightTriggerOf returns the event that fired the flight recorder
// capture of h; false when h names none (not a flight recorder capture,
// a trigger by hand, or values that do not parse).
func FlightTriggerOf(h *format.Header) (FlightTriggerEvent, bool) {
	var ev FlightTriggerEvent
	t, err1 := strconv.ParseUint(h.Options[FlightTriggerKtime], 10, 64)
	skb, err2 := strconv.ParseUint(strings.TrimPrefix(h.Options[FlightTriggerSKB], "0x"), 16, 64)
	if err1 != nil || err2 != nil {
		return ev, false
	}
	ev.Time, ev.SKB, ev.Probe = t, skb, h.Options[FlightTriggerProbe]
	if r, err := strconv.ParseUint(h.Options[FlightTriggerReason], 10, 32); err == nil {
		ev.Reason, ev.HasReason = uint32(r), true
	}
	return ev, true
}

// UsedOptions returns the recorder options that were on, as
// "--name=value" ("--filter-track-skb" for a true switch), sorted, and
// the number of options that were off.
func UsedOptions(h *format.Header) (used []string, off int) {
	for _, k := range slices.Sorted(maps.Keys(h.Options)) {
		if strings.HasPrefix(k, "flight-recorder.") {
			continue // what the flight recorder says of the capture, not an option
		}
		v := OptionValue(h.Options[k])
		switch {
		case optionIsOff(v):
			off++
		case v == "true":
			used = append(used, "--"+k)
		default:
			used = append(used, "--"+k+"="+v)
		}
	}
	return used, off
}
