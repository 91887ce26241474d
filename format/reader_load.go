package format

import (
	"cmp"
	"errors"
	"fmt"
	"slices"
)

// This file loads the small sections (header, probes, interfaces,
// losses, the BTF index) when a capture is opened.

// load reads the small sections and builds the per-type indexes.
func (f *File) load() error {
	sawHeader := false
	for _, s := range f.sections {
		var err error
		switch s.Type {
		case SectionHeader:
			if sawHeader {
				continue
			}
			var p []byte
			if _, p, err = f.readSection(s, nil, nil); err == nil {
				var h *Header
				if h, err = decodeHeader(p); err == nil {
					f.header, sawHeader = *h, true
				}
			}
		case SectionProbes:
			var p []byte
			if _, p, err = f.readSection(s, nil, nil); err == nil {
				var ps []Probe
				if ps, err = decodeProbes(p, f.intern); err == nil {
					for _, pr := range ps {
						if i, ok := f.probeIdx[pr.ID]; ok {
							f.probes[i] = pr
							continue
						}
						f.probeIdx[pr.ID] = len(f.probes)
						f.probes = append(f.probes, pr)
					}
				}
			}
		case SectionInterfaces:
			var p []byte
			if _, p, err = f.readSection(s, nil, nil); err == nil {
				var ifs []Interface
				var ns []Netns
				if ifs, ns, err = decodeInterfaces(p); err == nil {
					f.ifaces = append(f.ifaces, ifs...)
					f.netns = append(f.netns, ns...)
				}
			}
		case SectionLosses:
			f.lossSecs = append(f.lossSecs, s) // only the last valid one is read
		case SectionBTF:
			f.btfSecs = append(f.btfSecs, s) // read on first use
		case SectionKallsyms:
			f.syms = append(f.syms, s)
		case SectionEvents:
			f.chunks = append(f.chunks, s)
			f.summary.Events += uint64(s.Count)
			if f.summary.Chunks == 0 || s.First < f.summary.FirstTime {
				f.summary.FirstTime = s.First
			}
			f.summary.LastTime = max(f.summary.LastTime, s.Last)
			f.summary.Chunks++
		case SectionStacks:
			f.stacks = append(f.stacks, s)
			f.summary.Stacks += uint64(s.Count)
		case SectionBlobs:
			f.blobs = append(f.blobs, s)
			f.summary.Blobs += uint64(s.Count)
		case SectionPackets:
			f.packets = append(f.packets, s)
			f.summary.Packets += uint64(s.Count)
		}
		if err != nil {
			if se := (*SectionError)(nil); !errors.As(err, &se) {
				err = &SectionError{Type: s.Type, Offset: s.Offset, Err: err}
			}
			if !f.opts.SkipCorrupt {
				return err
			}
			f.problems = append(f.problems, err)
			f.summary.Skipped++
		}
	}
	if err := f.loadLosses(); err != nil {
		return err
	}
	if !sawHeader && !f.opts.SkipCorrupt {
		if f.summary.Truncated {
			return fmt.Errorf("read header: %w at offset %d", ErrTruncated, f.summary.TruncatedAt)
		}
		return fmt.Errorf("read header: %w: no header section", ErrCorrupt)
	}
	byFirst := func(a, b SectionInfo) int {
		return cmp.Or(cmp.Compare(a.First, b.First), cmp.Compare(a.Offset, b.Offset))
	}
	slices.SortStableFunc(f.chunks, byFirst)
	slices.SortStableFunc(f.stacks, byFirst)
	slices.SortStableFunc(f.blobs, byFirst)
	return nil
}

// loadLosses reads the last losses section; when it is corrupt and
// SkipCorrupt is set, the one before it, and so on.
func (f *File) loadLosses() error {
	for i := len(f.lossSecs) - 1; i >= 0; i-- {
		s := f.lossSecs[i]
		_, p, err := f.readSection(s, nil, nil)
		if err == nil {
			var l Losses
			if l, err = decodeLosses(p); err == nil {
				f.losses = l
				return nil
			}
			err = &SectionError{Type: s.Type, Offset: s.Offset, Err: err}
		}
		if !f.opts.SkipCorrupt {
			return err
		}
		f.problems = append(f.problems, err)
		f.summary.Skipped++
	}
	return nil
}

// btfIndex reads the module names of the BTF sections once. The caller
// holds f.mu.
func (f *File) btfIndex() error {
	if f.btfs != nil {
		return f.btfErr
	}
	f.btfs = make(map[string]SectionInfo)
	for _, s := range f.btfSecs {
		_, p, err := f.readSection(s, nil, nil)
		if err == nil {
			var mod string
			if mod, _, err = decodeBTF(p); err == nil {
				if _, dup := f.btfs[mod]; !dup {
					f.btfs[mod] = s
					f.btfOrder = append(f.btfOrder, mod)
				}
				continue
			}
			err = &SectionError{Type: s.Type, Offset: s.Offset, Err: err}
		}
		if !f.opts.SkipCorrupt {
			f.btfErr = fmt.Errorf("read btf index: %w", err)
			return f.btfErr
		}
	}
	return nil
}

// intern returns a shared string equal to b.
func (f *File) intern(b []byte) string {
	if s, ok := f.strs[string(b)]; ok {
		return s
	}
	s := string(b)
	if len(f.strs) < 1<<16 {
		f.strs[s] = s
	}
	return s
}

// internLocked is intern for use after open, when iterators may run
// concurrently.
func (f *File) internLocked(b []byte) string {
	f.strMu.Lock()
	defer f.strMu.Unlock()
	return f.intern(b)
}
