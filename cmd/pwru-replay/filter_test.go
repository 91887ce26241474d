package main

import (
	"errors"
	"fmt"
	"reflect"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/pwru-record/pwru-record/analyze"
)

func TestParseMark(t *testing.T) {
	tests := []struct {
		in   string
		want analyze.Mark
		err  string
	}{
		{"0xa00/0xf00", analyze.Mark{Value: 0xa00, Mask: 0xf00}, ""},
		{"7", analyze.Mark{Value: 7, Mask: 0xffffffff}, ""},
		{"0/0", analyze.Mark{}, ""},
		{"x/y", analyze.Mark{}, `"x" is not a number`},
		{"1/y", analyze.Mark{}, `"y" is not a number`},
	}
	for _, tt := range tests {
		got, err := parseMark(tt.in)
		if tt.err != "" {
			if err == nil || err.Error() != tt.err {
				t.Errorf("parseMark(%q) error %v, want %q", tt.in, err, tt.err)
			}
			continue
		}
		if err != nil || got != tt.want {
			t.Errorf("parseMark(%q) = %+v, %v; want %+v", tt.in, got, err, tt.want)
		}
	}
}

func TestParseTimeBound(t *testing.T) {
	at := time.Date(2026, 1, 2, 3, 4, 5, 600, time.UTC)
	tests := []struct {
		in   string
		want analyze.TimeBound
		err  string
	}{
		{"", analyze.TimeBound{}, ""},
		{"1.5s", analyze.TimeBound{Offset: 1500 * time.Millisecond}, ""},
		{"2026-01-02T03:04:05.0000006Z", analyze.TimeBound{At: at}, ""},
		{"-1s", analyze.TimeBound{}, `negative duration "-1s"`},
		{"yesterday", analyze.TimeBound{}, `"yesterday" is neither a duration (1.5s) nor an RFC 3339 time`},
	}
	for _, tt := range tests {
		got, err := parseTimeBound(tt.in)
		if tt.err != "" {
			if err == nil || err.Error() != tt.err {
				t.Errorf("parseTimeBound(%q) error %v, want %q", tt.in, err, tt.err)
			}
			continue
		}
		if err != nil || !got.At.Equal(tt.want.At) || got.Offset != tt.want.Offset {
			t.Errorf("parseTimeBound(%q) = %+v, %v; want %+v", tt.in, got, err, tt.want)
		}
	}
}

func TestParseNetns(t *testing.T) {
	for in, want := range map[string]analyze.NetnsRef{
		"4026531840":       {Inode: 4026531840},
		"inode:4026531840": {Inode: 4026531840},
		"0x10":             {Inode: 16},
		"pod1":             {Name: "pod1"},
		"0":                {Inode: 0},
	} {
		if diff := cmp.Diff(want, *parseNetns(in)); diff != "" {
			t.Errorf("parseNetns(%q) (-want +got):\n%s", in, diff)
		}
	}
}

// TestCLIMessage: a library FilterError is named by its flag, wherever
// it is wrapped; other errors are unchanged.
func TestCLIMessage(t *testing.T) {
	reason := &analyze.FilterError{Field: "Reason", Err: errors.New(`unknown drop reason "NOPE"`)}
	pcap := &analyze.FilterError{Field: "Pcap", Err: errors.New(`parse "tcp port x": pcap filter: unknown port`)}
	tests := []struct {
		err  error
		want string
	}{
		{reason, `parse --reason: unknown drop reason "NOPE"`},
		{fmt.Errorf("a.pwru: %w", reason), `a.pwru: parse --reason: unknown drop reason "NOPE"`},
		{exit2(reason), `parse --reason: unknown drop reason "NOPE"`},
		{pcap, `parse "tcp port x": pcap filter: unknown port`},
		{errors.New("open x: no such file"), "open x: no such file"},
	}
	for _, tt := range tests {
		if got := cliMessage(tt.err); got != tt.want {
			t.Errorf("cliMessage(%v) = %q, want %q", tt.err, got, tt.want)
		}
	}
}

// TestFlagNames: every library field the CLI names by a flag is a field
// of the library's type and a flag of the command.
func TestFlagNames(t *testing.T) {
	flags := func(cmd string) map[string]bool {
		m := map[string]bool{}
		for _, f := range newApp(nil, nil, false).Command(cmd).Flags {
			for _, n := range f.Names() {
				m[n] = true
			}
		}
		return m
	}
	for _, tt := range []struct {
		typ   reflect.Type
		cmd   string
		names map[string]string
	}{
		{reflect.TypeOf(analyze.Filter{}), "print", filterFlagNames},
		{reflect.TypeOf(analyze.PrintOptions{}), "print", printFlagNames},
	} {
		have := flags(tt.cmd)
		for field, flag := range tt.names {
			if _, ok := tt.typ.FieldByName(field); !ok {
				t.Errorf("%s has no field %s", tt.typ, field)
			}
			if !have[flag] {
				t.Errorf("%s has no flag --%s (for %s.%s)", tt.cmd, flag, tt.typ, field)
			}
		}
	}
}
