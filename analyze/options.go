package analyze

import (
	"maps"
	"regexp"
	"slices"
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
)

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
