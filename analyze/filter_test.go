package analyze

import (
	"errors"
	"io"
	"testing"
	"time"
)

// TestFilterErrors: a filter that does not fit the capture is a
// *FilterError naming the field, never a flag.
func TestFilterErrors(t *testing.T) {
	c := mustCapture(t, "basic")
	tests := []struct {
		name  string
		flt   Filter
		field string
		msg   string
	}{
		{"func", Filter{Func: "("}, "Func", "error parsing regexp: missing closing ): `(`"},
		{"netns", Filter{Netns: &NetnsRef{Name: "nosuch"}}, "Netns", `no netns named "nosuch" in the capture`},
		{"ifname", Filter{Ifname: "nosuch0"}, "Ifname", `no interface named "nosuch0" in the capture`},
		{"reason", Filter{Reason: "NO_SUCH"}, "Reason", `unknown drop reason "NO_SUCH"`},
		{"since", Filter{Since: TimeBound{At: time.Unix(0, 0).UTC()}}, "Since", "1970-01-01T00:00:00Z is before the capture"},
		{"until", Filter{Until: TimeBound{Offset: -time.Second}}, "Until", "negative duration -1s"},
		{"pcap", Filter{Pcap: "tcp port nonsense"}, "Pcap", `parse "tcp port nonsense": pcap filter: unknown port 'nonsense' at offset 9`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := Print(io.Discard, c, &PrintOptions{Filter: tt.flt})
			var fe *FilterError
			if !errors.As(err, &fe) {
				t.Fatalf("error %v is not a *FilterError", err)
			}
			if fe.Field != tt.field || fe.Err.Error() != tt.msg {
				t.Errorf("FilterError{%q, %q}, want {%q, %q}", fe.Field, fe.Err, tt.field, tt.msg)
			}
		})
	}
}
