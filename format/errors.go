package format

import (
	"errors"
	"fmt"
)

// Sentinel errors. Errors returned by this package match them with
// [errors.Is].
var (
	// ErrNotCapture: the input does not start with the capture file magic.
	ErrNotCapture = errors.New("not a capture file")
	// ErrCorrupt: a checksum, length or field is invalid.
	ErrCorrupt = errors.New("corrupt capture")
	// ErrTruncated: the input ends inside a section.
	ErrTruncated = errors.New("truncated capture")
	// ErrUnsupportedVersion: the file's major version is newer than this
	// reader's.
	ErrUnsupportedVersion = errors.New("unsupported capture format version")
	// ErrNotSeekable: the input is a pipe, socket or terminal; the reader
	// needs a file it can read at any offset.
	ErrNotSeekable = errors.New("not a seekable file")
	// ErrNotFound: an ID or name does not exist in the capture.
	ErrNotFound = errors.New("not found in capture")
	// ErrLimit: reading a section would exceed one of the reader's
	// memory bounds (SPEC.md "Reader bounds"). The writer never produces
	// such a file; with ReaderOptions.SkipCorrupt the section is skipped.
	ErrLimit = errors.New("capture exceeds the reader's memory bound")
)

// SectionError is an error located in one section of a capture. It
// unwraps to the cause, which matches [ErrCorrupt], [ErrTruncated] or
// [ErrLimit].
type SectionError struct {
	Type   SectionType
	Offset int64 // file offset of the section header
	Err    error
}

// Error implements error: "events section at offset 4096: <cause>", or
// "section header at offset 4096: <cause>" when the header itself is
// unreadable (so the type is not known).
func (e *SectionError) Error() string {
	switch {
	case e.Type == 0:
		return fmt.Sprintf("section header at offset %d: %v", e.Offset, e.Err)
	case int(e.Type) >= len(sectionNames) || sectionNames[e.Type] == "":
		return fmt.Sprintf("section of unknown type %d at offset %d: %v", e.Type, e.Offset, e.Err)
	}
	return fmt.Sprintf("%s section at offset %d: %v", e.Type, e.Offset, e.Err)
}

// Unwrap returns the cause.
func (e *SectionError) Unwrap() error { return e.Err }

// limitf builds a cause matching ErrLimit.
func limitf(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrLimit, fmt.Sprintf(format, args...))
}

// corruptf builds a cause matching ErrCorrupt.
func corruptf(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrCorrupt, fmt.Sprintf(format, args...))
}

// asCorrupt makes err match ErrCorrupt unless it already matches a
// sentinel of this package.
func asCorrupt(err error) error {
	if err == nil || errors.Is(err, ErrCorrupt) || errors.Is(err, ErrTruncated) || errors.Is(err, ErrLimit) {
		return err
	}
	return fmt.Errorf("%w: %w", ErrCorrupt, err)
}
