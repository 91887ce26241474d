package tracer

import (
	"errors"
	"testing"
)

func TestParseAblate(t *testing.T) {
	tests := []struct {
		in   string
		want uint32
		err  bool
	}{
		{in: "", want: 0},
		{in: "payload", want: 1},
		{in: "payload, tuple,body", want: 1 | 4 | 128},
		{in: "meta,meta", want: 2},
		{in: "ring,,cookie", want: 16 | 32},
		{in: "payloads", err: true},
	}
	for _, tt := range tests {
		got, err := ParseAblate(tt.in)
		if tt.err {
			if !errors.Is(err, ErrConfig) {
				t.Errorf("ParseAblate(%q) = %d, %v; want an ErrConfig", tt.in, got, err)
			}
			continue
		}
		if err != nil || got != tt.want {
			t.Errorf("ParseAblate(%q) = %#x, %v; want %#x", tt.in, got, err, tt.want)
		}
	}
}
