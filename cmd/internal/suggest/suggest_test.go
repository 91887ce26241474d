package suggest

import (
	"errors"
	"testing"

	"github.com/urfave/cli/v2"
)

func TestNearest(t *testing.T) {
	cmds := []string{"info", "print", "paths", "stats", "pcap", "diff", "slice"}
	tests := []struct{ in, want string }{
		{"prnt", "print"},
		{"pritn", "print"},
		{"stat", "stats"},
		{"slic", "slice"},
		{"dif", "diff"},
		{"xyzzy", ""},
		{"p", ""},
	}
	for _, tt := range tests {
		if got := Nearest(tt.in, cmds); got != tt.want {
			t.Errorf("Nearest(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

func TestFlagHint(t *testing.T) {
	flags := []cli.Flag{&cli.BoolFlag{Name: "json"}, &cli.StringFlag{Name: "output", Aliases: []string{"o"}}}
	tests := []struct{ err, want string }{
		{"flag provided but not defined: -jsn", "; did you mean --json?"},
		{"flag provided but not defined: -outptu", "; did you mean --output?"},
		{"flag provided but not defined: -zzzzzz", ""},
		{"invalid value", ""},
	}
	for _, tt := range tests {
		if got := FlagHint(flags, errors.New(tt.err)); got != tt.want {
			t.Errorf("FlagHint(%q) = %q, want %q", tt.err, got, tt.want)
		}
	}
}
