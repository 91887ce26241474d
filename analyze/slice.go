package analyze

import (
	"fmt"
	"io"
	"maps"

	"github.com/pwru-record/pwru-record/format"
)

// SliceOptions tune [Slice].
type SliceOptions struct {
	Filter Filter
	// NoPayload leaves the packets out (events keep no payload reference).
	NoPayload bool
	// TrimSymbols keeps only the kallsyms entries the kept events need
	// (probes, callers, stack frames) and only the BTF types the analyzer
	// renders (struct sk_buff, struct skb_shared_info, enum
	// skb_drop_reason), with the structs they point to reduced to
	// forward declarations.
	TrimSymbols bool
	// Redact replaces every kernel and heap address (skbs, stacks,
	// callers, kallsyms, probes, pointers in blobs) with a stable
	// pseudonym; symbols keep their offsets within each module, so every
	// address symbolizes as before. The header says so (RedactAddresses).
	Redact bool
	// HeadersOnly zeroes the payload bytes after the L2-L4 headers
	// (RedactPayloads).
	HeadersOnly bool
	// Description is recorded in the new header's options as
	// "sliced-with" (e.g. the command line).
	Description string
	// Writer tunes the output (nil = defaults).
	Writer *format.WriterOptions
}

// SliceStats says what [Slice] kept.
type SliceStats struct {
	Events, SKBs, Packets, Stacks, Blobs, Symbols uint64
	// FateEvents counts the kept events that the function filter
	// rejected but that decide or end a kept skb's fate (drop, consume,
	// free): without them a reader of the slice could not tell the
	// kept skbs apart (an address is reused) nor know their fates.
	FateEvents uint64
}

// Slice writes a new, complete capture to w holding only the selected
// events, with the header, probes, interfaces and losses of the original,
// and the stacks, blobs, payloads, kallsyms and BTF the kept events use.
func Slice(w io.Writer, c *Capture, o *SliceOptions) (*SliceStats, error) {
	if o == nil {
		o = &SliceOptions{}
	}
	s, err := newScanner(c, &o.Filter)
	if err != nil {
		return nil, err
	}
	s.raw = true
	src := c.File
	h := *src.Header()
	h.Options = maps.Clone(h.Options)
	if h.Options == nil {
		h.Options = map[string]string{}
	}
	desc := o.Description
	if desc == "" {
		desc = "pwru-replay slice"
	}
	h.Options["sliced-with"] = desc
	r := &redactor{}
	if o.Redact {
		r = newRedactor(c)
		h.Redaction |= format.RedactAddresses
	}
	if o.HeadersOnly && !o.NoPayload {
		h.Redaction |= format.RedactPayloads
	}
	fw, err := format.NewWriter(w, &h, o.Writer)
	if err != nil {
		return nil, fmt.Errorf("create capture: %w", err)
	}
	st := &SliceStats{}

	// The events go first into the writer; kallsyms and BTF needs are
	// gathered on the way and written at the end when trimming (the
	// reader does not care about section order).
	if !o.TrimSymbols {
		if err := copyBTF(fw, src); err != nil {
			return nil, err
		}
		if syms := c.Symbols(); syms != nil && syms.Len() > 0 {
			if err := fw.AddKallsyms(r.symbols(syms.All())); err != nil {
				return nil, fmt.Errorf("write kallsyms: %w", err)
			}
			st.Symbols = uint64(syms.Len())
		}
	}
	if ps := src.Probes(); len(ps) > 0 {
		if err := fw.AddProbes(r.probes(ps)); err != nil {
			return nil, fmt.Errorf("write probes: %w", err)
		}
	}
	if ifs, ns := src.Interfaces(), src.Netns(); len(ifs) > 0 || len(ns) > 0 {
		if err := fw.AddInterfaces(ifs, ns); err != nil {
			return nil, fmt.Errorf("write interfaces: %w", err)
		}
	}
	stackIDs := map[uint32]uint32{}
	blobIDs := map[uint32]uint32{}
	pktIDs := map[uint32]uint32{}
	addrs := map[uint64]struct{}{}
	hit := map[uint32]bool{}
	var needSKB, needShinfo bool
	remap := func(m map[uint32]uint32, id uint32, add func() (uint32, error)) (uint32, error) {
		if id == 0 {
			return 0, nil
		}
		if n, ok := m[id]; ok {
			return n, nil
		}
		n, err := add()
		if err != nil {
			return 0, err
		}
		if len(m) > 1<<16 {
			clear(m)
		}
		m[id] = n
		return n, nil
	}
	s.keepFates = true
	err = s.run(func(e *format.Event, l *life) error {
		ne := *e
		ne.SKB, ne.Caller = r.addr(e.SKB), r.addr(e.Caller)
		var err error
		ne.StackID, err = remap(stackIDs, e.StackID, func() (uint32, error) {
			ips, err := src.Stack(e.StackID)
			if err != nil {
				return 0, skipLost(c, "stack", err)
			}
			if o.TrimSymbols {
				for _, ip := range ips {
					addrs[ip] = struct{}{}
				}
			}
			st.Stacks++
			return fw.AddStack(r.stack(ips))
		})
		if err != nil {
			return err
		}
		for k, id := range e.Blobs {
			if id == 0 {
				continue
			}
			ne.Blobs[k], err = remap(blobIDs, id, func() (uint32, error) {
				kind, data, err := src.Blob(id)
				if err != nil {
					return 0, skipLost(c, "blob", err)
				}
				st.Blobs++
				return fw.AddBlob(kind, r.blob(kind, data))
			})
			if err != nil {
				return err
			}
			needSKB = needSKB || k == format.BlobSKB
			needShinfo = needShinfo || k == format.BlobSharedInfo
		}
		if o.NoPayload {
			ne.PayloadID = 0
		} else {
			ne.PayloadID, err = remap(pktIDs, e.PayloadID, func() (uint32, error) {
				p, err := src.Packet(e.PayloadID)
				if err != nil {
					return 0, skipLost(c, "payload", err)
				}
				st.Packets++
				if o.HeadersOnly {
					p = headersOnly(p)
				}
				return fw.AddPacket(p)
			})
			if err != nil {
				return err
			}
		}
		if o.TrimSymbols {
			if e.Caller != 0 {
				addrs[e.Caller] = struct{}{}
			}
			hit[e.ProbeID] = true
		}
		if l != nil && l.sel == 1 && !s.inFate {
			st.SKBs++
		}
		st.Events++
		if err := fw.WriteEvent(&ne); err != nil {
			return fmt.Errorf("write event: %w", err)
		}
		return nil
	}, nil)
	if err != nil {
		return nil, err
	}
	st.FateEvents = s.fates
	if o.TrimSymbols {
		n, err := writeTrimmedSymbols(fw, c, r, addrs, hit)
		if err != nil {
			return nil, err
		}
		st.Symbols = n
		if err := writeTrimmedBTF(fw, c, needSKB, needShinfo); err != nil {
			return nil, err
		}
	}
	losses := src.Losses()
	losses.Other = maps.Clone(losses.Other)
	if losses.Other == nil {
		losses.Other = map[string]uint64{}
	}
	if total := src.Summary().Events; total > st.Events {
		losses.Other["sliced_out_events"] = total - st.Events
	}
	if err := fw.SetLosses(&losses); err != nil {
		return nil, fmt.Errorf("write losses: %w", err)
	}
	if err := fw.Close(); err != nil {
		return nil, fmt.Errorf("close capture: %w", err)
	}
	return st, nil
}

// skipLost handles a failed read of data the sliced events reference:
// with SkipCorrupt it is recorded ([Capture.Incomplete]) and the event
// keeps no reference (nil error, ID 0); otherwise the error stops the
// slice.
func skipLost(c *Capture, what string, err error) error {
	if !c.File.Options().SkipCorrupt {
		return err
	}
	c.noteLost(what, err)
	return nil
}
