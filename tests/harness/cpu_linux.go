package harness

import (
	"syscall"
	"time"
	"unsafe"
)

// CPUTime is the CPU time pid has used, all its threads together, live and
// exited: utime+stime as /proc/PID/stat counts them, but read from the
// process's CPU clock (clock_gettime of its CPUCLOCK_SCHED clock, what
// clock_getcpuclockid(3) gives) in nanoseconds rather than in 10 ms ticks.
// A 10 s window of an agent at 7 ms of CPU a second is 7 ticks: ±15 % from
// the tick alone. If the clock cannot be read it falls back to the ticks.
func CPUTime(pid int) (time.Duration, error) {
	if d, err := cpuClock(pid); err == nil {
		return d, nil
	}
	return cpuFromTicks(pid)
}

// cpuClock reads pid's process CPU clock.
func cpuClock(pid int) (time.Duration, error) {
	// The kernel's encoding of a process clock id (include/linux/posix-timers.h
	// make_process_cpuclock): ^pid << 3 | CPUCLOCK_SCHED.
	id := int32(^pid<<3 | 2)
	var ts syscall.Timespec
	if _, _, e := syscall.Syscall(syscall.SYS_CLOCK_GETTIME, uintptr(id), uintptr(unsafe.Pointer(&ts)), 0); e != 0 {
		return 0, e
	}
	return time.Duration(ts.Nano()), nil
}
