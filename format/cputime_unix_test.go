//go:build unix

package format_test

import (
	"syscall"
	"time"
)

// cpuTime returns the CPU time (user + system) the process used so far,
// so that benchmarks can report a rate that stays meaningful on a loaded
// machine.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
