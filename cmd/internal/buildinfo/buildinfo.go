// Package buildinfo tells which version of the tools is running.
package buildinfo

import "runtime/debug"

// Version returns linked when the build set it (make build passes
// -ldflags -X main.version=$(git describe)); otherwise, for `go build` and
// `go install` in a git checkout, the VCS revision the Go toolchain stamped
// into the binary (short hash, "-dirty" when the tree had changes); and
// "dev" when neither is known.
func Version(linked string) string {
	if linked != "" && linked != "dev" {
		return linked
	}
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return "dev"
	}
	return fromSettings(bi.Settings)
}

func fromSettings(settings []debug.BuildSetting) string {
	var rev string
	dirty := false
	for _, s := range settings {
		switch s.Key {
		case "vcs.revision":
			rev = s.Value
		case "vcs.modified":
			dirty = s.Value == "true"
		}
	}
	if rev == "" {
		return "dev"
	}
	if len(rev) > 12 {
		rev = rev[:12]
	}
	if dirty {
		rev += "-dirty"
	}
	return rev
}
