package tracer

import (
	"fmt"
	"io"
	"maps"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/cilium/ebpf/btf"
	"golang.org/x/sys/unix"

	"github.com/pwru-record/pwru-record/format"
)

// dropTriggerReasons resolves the --trigger-drop reason names with the
// kernel's enum skb_drop_reason: the values that trigger (nil for any
// drop) and those that mean "not dropped" (SKB_NOT_DROPPED_YET,
// SKB_CONSUMED where the kernel has it), which never trigger. Reasons
// are refused on a kernel whose skb:kfree_skb tracepoint passes none
// (haveReasons false, probed from its BTF prototype): no drop would ever
// carry one.
func dropTriggerReasons(cache *btf.Cache, names []string, haveReasons bool) (map[uint32]string, map[uint32]bool, error) {
	notDropped := map[uint32]bool{0: true}
	if len(names) > 0 && !haveReasons {
		return nil, nil, fmt.Errorf("%w: --trigger-drop %s: this kernel reports no drop reasons (its skb:kfree_skb tracepoint passes none); only --trigger-drop any can fire", ErrConfig, strings.Join(names, ","))
	}
	spec, err := cache.Kernel()
	var enum *btf.Enum
	if err == nil {
		err = spec.TypeByName("skb_drop_reason", &enum)
	}
	if err != nil {
		if len(names) > 0 {
			return nil, nil, fmt.Errorf("%w: --trigger-drop reasons need the kernel's enum skb_drop_reason: %v", ErrConfig, err)
		}
		return nil, notDropped, nil
	}
	byName := map[string]uint32{}
	for _, v := range enum.Values {
		byName[strings.TrimPrefix(v.Name, "SKB_DROP_REASON_")] = uint32(v.Value)
		if v.Name == "SKB_NOT_DROPPED_YET" || v.Name == "SKB_CONSUMED" {
			notDropped[uint32(v.Value)] = true
		}
	}
	if len(names) == 0 {
		return nil, notDropped, nil
	}
	out := map[uint32]string{}
	for _, n := range names {
		v, ok := byName[strings.TrimPrefix(strings.ToUpper(n), "SKB_DROP_REASON_")]
		if !ok {
			return nil, nil, fmt.Errorf("%w: --trigger-drop: no drop reason %q in this kernel", ErrConfig, n)
		}
		out[v] = strings.TrimPrefix(strings.ToUpper(n), "SKB_DROP_REASON_")
	}
	return out, notDropped, nil
}

// flightOptions builds the drain's flight recorder from the config: the
// window, the trigger test and the capture opener.
func (s *session) flightOptions(cfg *Config, prefix []byte, hdr format.Header, reasons map[uint32]string, notDropped map[uint32]bool) (*flightOptions, error) {
	win, err := newWindow(cfg.FlightBytes, uint64(cfg.FlightAge), 0)
	if err != nil {
		return nil, err
	}
	var funcs map[uint32]string
	if cfg.TriggerFunc != "" {
		re := regexp.MustCompile(cfg.TriggerFunc) // checked by Validate
		funcs = map[uint32]string{}
		for _, p := range s.probes {
			if p.Error == "" && re.MatchString(p.Name) {
				funcs[p.ID] = p.Name
			}
		}
		if len(funcs) == 0 {
			return nil, fmt.Errorf("%w: --trigger-func %q matches no attached probe", ErrConfig, cfg.TriggerFunc)
		}
	}
	// The skb:kfree_skb tracepoint's probe: on a kernel that reports no
	// drop reasons (5.10) its events carry none, and each is a drop.
	dropProbe, haveDropProbe := uint32(0), false
	for _, p := range s.probes {
		if p.Kind == format.ProbeTracepoint {
			dropProbe, haveDropProbe = p.ID, true
		}
	}
	trigger := func(rec []byte) string {
		if funcs != nil {
			if name, ok := funcs[u32at(rec, offProbeID)]; ok {
				return "func-" + name
			}
		}
		if cfg.TriggerDrop && reasons == nil && haveDropProbe && u32at(rec, offProbeID) == dropProbe &&
			format.EventFlags(u16at(rec, offFlags))&format.FlagDropReason == 0 {
			return "drop"
		}
		if cfg.TriggerDrop && format.EventFlags(u16at(rec, offFlags))&format.FlagDropReason != 0 {
			r := u32at(rec, offDropReason)
			if notDropped[r] {
				return ""
			}
			if reasons == nil {
				return "drop"
			}
			if name, ok := reasons[r]; ok {
				return "drop-" + name
			}
		}
		// The kernel evaluated --trigger-pcap (bpf/pwru.c).
		if cfg.TriggerPcap != "" && format.EventFlags(u16at(rec, offFlags))&format.FlagTrigger != 0 {
			return "pcap"
		}
		return ""
	}
	probeNames := map[uint32]string{}
	for _, p := range s.probes {
		probeNames[p.ID] = p.Name
	}
	var cur format.Header
	var reason string
	var at time.Time
	next, err := rotator(prefix, &cur, func() (io.Writer, error) { return cfg.FlightOpen(reason, at) })
	if err != nil {
		return nil, err
	}
	window := cfg.FlightAge.String()
	if cfg.FlightBytes > 0 {
		window = fmt.Sprintf("%d bytes", cfg.FlightBytes)
	}
	return &flightOptions{
		Window:      win,
		After:       cfg.TriggerAfter,
		HoldOff:     cfg.TriggerHoldOff,
		MaxTriggers: cfg.MaxTriggers,
		Trigger:     trigger,
		Manual:      cfg.Manual,
		Now: func() uint64 {
			var ts unix.Timespec
			if err := unix.ClockGettime(unix.CLOCK_MONOTONIC, &ts); err != nil {
				return 0 // the tick then acts on nothing: records still do
			}
			return uint64(ts.Nano())
		},
		Open: func(r string, t uint64, rec []byte) (*format.Writer, error) {
			reason, at = r, time.Unix(0, int64(t)+hdr.MonoOffset).UTC()
			cur = hdr
			cur.Options = maps.Clone(hdr.Options)
			if cur.Options == nil {
				cur.Options = map[string]string{}
			}
			// The capture says where it came from (format/SPEC.md).
			cur.Options["flight-recorder.window"] = window
			cur.Options["flight-recorder.trigger"] = r
			cur.Options["flight-recorder.trigger-time"] = at.Format(time.RFC3339Nano)
			cur.Options["flight-recorder.trigger-after"] = cfg.TriggerAfter.String()
			if rec != nil {
				// The event that fired it, for info and paths.
				cur.Options["flight-recorder.trigger-ktime"] = strconv.FormatUint(t, 10)
				cur.Options["flight-recorder.trigger-skb"] = "0x" + strconv.FormatUint(u64at(rec, offSKB), 16)
				cur.Options["flight-recorder.trigger-probe"] = probeNames[u32at(rec, offProbeID)]
				if format.EventFlags(u16at(rec, offFlags))&format.FlagDropReason != 0 {
					cur.Options["flight-recorder.trigger-drop-reason"] = strconv.FormatUint(uint64(u32at(rec, offDropReason)), 10)
				}
			}
			return next()
		},
	}, nil
}
