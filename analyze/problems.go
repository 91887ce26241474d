package analyze

import (
	"errors"
	"fmt"

	"github.com/pwru-record/pwru-record/analyze/internal/render"
	"github.com/pwru-record/pwru-record/format"
)

// lostData is one section whose data could not be read.
type lostData struct {
	err  error  // the first error, located in its section when known
	what string // "payload", "stack" or "blob"
	n    int    // failed lookups
}

// Problems returns the errors met so far loading the capture's kallsyms
// and BTF (the commands go on without them: addresses stay hex, drop
// reasons numbers), the lookups of data the capture should hold that
// failed ([Capture.Incomplete]), and the recorded data that could not be
// used (a blob too short for what it holds, a BTF type that does not
// resolve), each with a count.
func (c *Capture) Problems() []error {
	var errs []error
	if c.symsErr != nil {
		errs = append(errs, fmt.Errorf("read kallsyms: %w", c.symsErr))
	}
	if c.specErr != nil {
		errs = append(errs, fmt.Errorf("read btf: %w", c.specErr))
	}
	for _, k := range c.lostOrder {
		l := c.lost[k]
		plural := "s"
		if l.n == 1 {
			plural = ""
		}
		if l.what == "events chunk" {
			errs = append(errs, fmt.Errorf("%w (%d events chunk%s skipped; the answer lacks them)", l.err, l.n, plural))
			continue
		}
		errs = append(errs, fmt.Errorf("%w (%d %s lookup%s failed; the answer lacks them)", l.err, l.n, l.what, plural))
	}
	for _, k := range c.unusableOrder {
		u := c.unusable[k]
		errs = append(errs, fmt.Errorf("%w (%d time%s; shown without it)", u.err, u.n, render.Plural(u.n)))
	}
	return errs
}

// noteUnusable records recorded data that could not be used (err says
// what and why), once per distinct message, with a count. Unlike a
// failed lookup it does not make the capture [Capture.Incomplete]: the
// data is there, and the answer says it could not show it.
func (c *Capture) noteUnusable(err error) {
	key := err.Error()
	if c.unusable == nil {
		c.unusable = map[string]*lostData{}
	}
	u := c.unusable[key]
	if u == nil && len(c.unusableOrder) >= 64 {
		key, err = "more", errors.New("more recorded data could not be used")
		u = c.unusable[key]
	}
	if u == nil {
		u = &lostData{err: err}
		c.unusable[key] = u
		c.unusableOrder = append(c.unusableOrder, key)
	}
	u.n++
}

// Incomplete reports whether an answer was computed without data the
// capture should have had: a payload, stack, blob, kallsyms or BTF
// section that is corrupt or cut short. [Capture.Problems] says which.
// The commands then exit non-zero unless the user asked to skip corrupt
// sections.
func (c *Capture) Incomplete() bool {
	if len(c.lostOrder) > 0 {
		return true
	}
	var se *format.SectionError
	return errors.As(c.symsErr, &se) || errors.As(c.specErr, &se)
}

// noteLost records a failed lookup of what (payload, stack, blob): once
// per section, with a count.
func (c *Capture) noteLost(what string, err error) {
	key := err.Error()
	var se *format.SectionError
	if errors.As(err, &se) {
		err = se // "packets section at offset N: cause", without "read packet 7: "
		key = fmt.Sprintf("%s@%d", se.Type, se.Offset)
	}
	if c.lost == nil {
		c.lost = map[string]*lostData{}
	}
	l := c.lost[key]
	if l == nil {
		if len(c.lostOrder) >= 64 {
			key = "more"
			if l = c.lost[key]; l == nil {
				l = &lostData{err: errors.New("more sections could not be read"), what: what}
				c.lost[key] = l
				c.lostOrder = append(c.lostOrder, key)
			}
		} else {
			l = &lostData{err: err, what: what}
			c.lost[key] = l
			c.lostOrder = append(c.lostOrder, key)
		}
	}
	l.n++
}

// noteSkippedChunks records the events chunks an iteration skipped
// (SkipCorrupt); passes over the same capture skip the same chunks, so
// the largest count is kept.
func (c *Capture) noteSkippedChunks(it eventSource) {
	n := it.Skipped()
	if n == 0 {
		return
	}
	c.noteLost("events chunk", it.SkipErr())
	for _, k := range c.lostOrder {
		if l := c.lost[k]; l.what == "events chunk" {
			l.n = max(l.n-1, n) // noteLost counted one
		}
	}
}

// packet returns payload id, or nil when it cannot be read (the failure
// is recorded: [Capture.Incomplete]).
func (c *Capture) packet(id uint32) *format.Packet {
	pk, err := c.File.Packet(id)
	if err != nil {
		c.noteLost("payload", err)
		return nil
	}
	return pk
}

// stack returns the addresses of stack id, or nil when they cannot be
// read (recorded).
func (c *Capture) stack(id uint32) []uint64 {
	ips, err := c.File.Stack(id)
	if err != nil {
		c.noteLost("stack", err)
		return nil
	}
	return ips
}

// blob returns blob id; a failure is recorded and returned.
func (c *Capture) blob(id uint32) (int, []byte, error) {
	kind, data, err := c.File.Blob(id)
	if err != nil {
		c.noteLost("blob", err)
	}
	return kind, data, err
}
