// Package suggest finds the name a user most likely meant when a
// subcommand or flag is mistyped ("did you mean print?"), for both
// commands.
package suggest

import (
	"strings"

	"github.com/urfave/cli/v2"
)

// Nearest returns the candidate closest to s by edit distance when it is
// close enough to be a typo, or the one candidate s is a prefix of (of 3
// bytes or more); "" otherwise.
func Nearest(s string, candidates []string) string {
	best, bestD := "", 1<<30
	if len(s) >= 3 {
		var prefixed []string
		for _, c := range candidates {
			if strings.HasPrefix(c, s) {
				prefixed = append(prefixed, c)
			}
		}
		if len(prefixed) == 1 {
			return prefixed[0]
		}
	}
	for _, c := range candidates {
		if d := editDistance(s, c); d < bestD {
			best, bestD = c, d
		}
	}
	limit := 1
	switch {
	case len(s) >= 9:
		limit = 3
	case len(s) >= 4:
		limit = 2
	}
	if bestD <= limit {
		return best
	}
	return ""
}

// FlagHint turns urfave/cli's "flag provided but not defined: -jsn" into
// a hint naming the nearest of flags ("; did you mean --json?"), or "".
func FlagHint(flags []cli.Flag, err error) string {
	_, bad, ok := strings.Cut(err.Error(), "flag provided but not defined: ")
	if !ok {
		return ""
	}
	bad = strings.TrimLeft(strings.TrimSpace(bad), "-")
	var names []string
	for _, f := range flags {
		names = append(names, f.Names()...)
	}
	if s := Nearest(bad, names); s != "" {
		return "; did you mean --" + s + "?"
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
