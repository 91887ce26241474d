package main

import (
	"bytes"
	"fmt"
	"os"
	"strings"

	"github.com/urfave/cli/v2"

	"github.com/pwru-record/pwru-record/cmd/internal/suggest"
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
	if s := suggest.Nearest(args[1], names); s != "" {
		msg += ": did you mean " + s + "?"
	} else {
		msg += " (commands: " + strings.Join(names, ", ") + ")"
	}
	return usageError{msg}
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
