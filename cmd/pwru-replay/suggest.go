package main

import (
	"bytes"
	"fmt"
	"os"
	"strings"

	"github.com/urfave/cli/v2"
)

// unknownCommand returns a usage error for a mistyped subcommand, with
// the nearest one ("unknown command "prnt": did you mean print?").
func unknownCommand(app *cli.App, args []string) error {
	if len(args) < 2 || strings.HasPrefix(args[1], "-") || args[1] == "help" || app.Command(args[1]) != nil {
		return nil
	}
	var names []string
	for _, c := range app.Commands {
		names = append(names, c.Names()...)
	}
	msg := fmt.Sprintf("unknown command %q", args[1])
	if s := nearest(args[1], names); s != "" {
		msg += ": did you mean " + s + "?"
	} else {
		msg += " (commands: " + strings.Join(names, ", ") + ")"
	}
	return usageError{msg}
}

// flagSuggestion turns urfave/cli's "flag provided but not defined: -jsn"
// into a hint naming the nearest flag ("; did you mean --json?").
func flagSuggestion(flags []cli.Flag, err error) string {
	_, bad, ok := strings.Cut(err.Error(), "flag provided but not defined: ")
	if !ok {
		return ""
	}
	bad = strings.TrimLeft(strings.TrimSpace(bad), "-")
	var names []string
	for _, f := range flags {
		names = append(names, f.Names()...)
	}
	if s := nearest(bad, names); s != "" {
		return "; did you mean --" + s + "?"
	}
	return ""
}

// nearest returns the candidate closest to s by edit distance, if it is
// close enough to be a typo (or s is a prefix of exactly that one).
func nearest(s string, candidates []string) string {
	best, bestD := "", 1<<30
	for _, c := range candidates {
		if len(c) > 1 && strings.HasPrefix(c, s) && len(s) >= 3 {
			return c
		}
		if d := editDistance(s, c); d < bestD {
			best, bestD = c, d
		}
	}
	if bestD <= max(1, min(3, len(s)/3)) {
		return best
	}
	return ""
}

// editDistance is the Levenshtein distance of a and b.
func editDistance(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}

// otherFormat names a file that is no pwru capture but another known
// format, with what opens it; "" otherwise.
func otherFormat(path string) string {
	f, err := os.Open(path)
	if err != nil {
		return ""
	}
	defer f.Close()
	var magic [4]byte
	if n, _ := f.Read(magic[:]); n < 4 {
		return ""
	}
	switch {
	case bytes.Equal(magic[:], []byte{0x0a, 0x0d, 0x0d, 0x0a}):
		return path + " is a pcapng file, not a pwru capture: open it with Wireshark or tcpdump -r"
	case bytes.Equal(magic[:], []byte{0xd4, 0xc3, 0xb2, 0xa1}), bytes.Equal(magic[:], []byte{0xa1, 0xb2, 0xc3, 0xd4}),
		bytes.Equal(magic[:], []byte{0x4d, 0x3c, 0xb2, 0xa1}), bytes.Equal(magic[:], []byte{0xa1, 0xb2, 0x3c, 0x4d}):
		return path + " is a pcap file, not a pwru capture: open it with Wireshark or tcpdump -r"
	}
	return ""
}
