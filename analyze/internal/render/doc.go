// Package render holds the text helpers the analyzer's commands share:
// pwru's tuple, address, protocol and TCP flag notation, column padding,
// JSON string literals, and struct bytes rendered with BTF the way the
// kernel's bpf_snprintf_btf() does. Every function appends to a byte
// slice it is given and returns the extended slice; none keeps state, all
// are safe for concurrent use.
package render
