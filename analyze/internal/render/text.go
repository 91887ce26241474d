package render

import (
	"strconv"
	"strings"
	"unicode/utf8"
)

// HexDigits are the lower-case hex digits.
const HexDigits = "0123456789abcdef"

// CenterAlign centers s in width columns (s as it is when it is wider).
func CenterAlign(s string, width int) string {
	if len(s) >= width {
		return s
	}
	left := (width - len(s)) / 2
	return strings.Repeat(" ", left) + s + strings.Repeat(" ", width-len(s)-left)
}

// TildeTrim keeps the last 16 bytes of s, marking the cut with '~' (pwru's
// PROCESS and IFACE columns).
func TildeTrim(s string) string {
	if len(s) <= 16 {
		return s
	}
	return "~" + s[len(s)-15:]
}

// Pad appends spaces so that b[start:] is at least width bytes wide
// (fmt's %-*s).
func Pad(b []byte, start, width int) []byte {
	for n := len(b) - start; n < width; n++ {
		b = append(b, ' ')
	}
	return b
}

// Hex16 is v in hex, zero-padded to 16 digits.
func Hex16(v uint64) string {
	h := strconv.FormatUint(v, 16)
	if len(h) < 16 {
		h = strings.Repeat("0", 16-len(h)) + h
	}
	return h
}

// OrDash is s, or "-" when s is empty.
func OrDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// WrapWords joins words with spaces, breaking lines before width bytes;
// continuation lines start with indent.
func WrapWords(words []string, width int, indent string) string {
	var b strings.Builder
	n := 0
	for i, w := range words {
		if i > 0 {
			if n+1+len(w) > width {
				b.WriteString("\n")
				b.WriteString(indent)
				n = 0
			} else {
				b.WriteByte(' ')
				n++
			}
		}
		b.WriteString(w)
		n += len(w)
	}
	return b.String()
}

// AppendJSONString appends s as a JSON string literal; invalid UTF-8
// becomes U+FFFD.
func AppendJSONString(b []byte, s string) []byte {
	b = append(b, '"')
	start := 0
	for i := 0; i < len(s); {
		c := s[i]
		if c >= 0x20 && c != '"' && c != '\\' && c < utf8.RuneSelf {
			i++
			continue
		}
		if c < utf8.RuneSelf {
			b = append(b, s[start:i]...)
			switch c {
			case '"', '\\':
				b = append(b, '\\', c)
			case '\n':
				b = append(b, '\\', 'n')
			case '\t':
				b = append(b, '\\', 't')
			case '\r':
				b = append(b, '\\', 'r')
			default:
				b = append(b, '\\', 'u', '0', '0', HexDigits[c>>4], HexDigits[c&0xf])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			b = append(b, s[start:i]...)
			b = append(b, `\ufffd`...)
			i += size
			start = i
			continue
		}
		i += size
	}
	b = append(b, s[start:]...)
	return append(b, '"')
}

// Plural is "s" unless n is 1: "%d packet%s".
func Plural(n int) string {
	if n == 1 {
		return ""
	}
	return "s"
}
