//go:build !linux

package harness

import "time"

// CPUTime is the CPU time pid has used; off Linux, from /proc/PID/stat's
// ticks where there is one.
func CPUTime(pid int) (time.Duration, error) { return cpuFromTicks(pid) }
