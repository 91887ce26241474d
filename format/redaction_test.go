package format

import (
	"bytes"
	"testing"
)

// TestHeaderRedaction: the redaction bits round-trip; a header without
// them is encoded exactly as in 1.0 and reads back as 0.
func TestHeaderRedaction(t *testing.T) {
	tests := []struct {
		name string
		r    Redaction
	}{
		{"none", 0},
		{"addresses", RedactAddresses},
		{"addresses and payloads", RedactAddresses | RedactPayloads},
	}
	base := Header{Hostname: "h", Snaplen: 128, PcapFilter: "icmp"}
	plain := appendHeader(nil, &base)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := base
			h.Redaction = tt.r
			enc := appendHeader(nil, &h)
			if !bytes.HasPrefix(enc, plain) || (tt.r == 0) != (len(enc) == len(plain)) {
				t.Errorf("encoding %x does not extend the 1.0 header %x", enc, plain)
			}
			var buf bytes.Buffer
			w, err := NewWriter(&buf, &h, nil)
			if err != nil {
				t.Fatal(err)
			}
			if err := w.Close(); err != nil {
				t.Fatal(err)
			}
			f, err := NewFile(bytes.NewReader(buf.Bytes()), int64(buf.Len()), nil)
			if err != nil {
				t.Fatal(err)
			}
			if got := f.Header().Redaction; got != tt.r {
				t.Errorf("read back redaction %v, want %v", got, tt.r)
			}
		})
	}
}
