//go:build !linux

package export

import "time"

// processCPU is not measured on this OS.
func processCPU() time.Duration { return 0 }
