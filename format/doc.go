// Package format reads and writes pwru-record capture files: one
// self-contained, compressed, crash-safe file holding the events of a
// recording together with everything needed to interpret them offline
// (BTF, kallsyms, probes, interfaces, stacks, raw struct bytes and packet
// payloads as pcapng).
//
// [Writer] writes a capture to any io.Writer without seeking (a pipe
// works); [File] reads one lazily from an io.ReaderAt. SPEC.md next to
// this file is the byte-level specification. The layers are:
//
//   - wire.go: varints and strings, a bounds-checked decoder;
//   - section.go: the raw container (preamble, section headers, footer);
//   - header.go, events*.go (column table, predictor, encode, column and
//     event decode), meta.go, kallsyms.go, pcapng.go: section payloads;
//   - writer*.go (API, add references, flush into sections), reader*.go
//     (API, index, load, one section, BTF and kallsyms, lookups by ID),
//     iter.go: the validating API on top.
//
// [File.Events] walks the events in time order. Passes that need a few
// fields ask for them in [IterOptions].Fields (column projection: the
// other columns are not decoded), and hot loops use
// [EventIter.NextShared], which returns the iterator's own copy of the
// event instead of filling the caller's.
//
// A file cut at any byte reads back every complete section; corrupt
// sections yield errors matching [ErrCorrupt] that name the section and
// its offset, and never panics.
package format
