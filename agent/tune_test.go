package agent

import (
	"runtime"
	"runtime/debug"
	"testing"
)

// restoreRuntime puts GOMAXPROCS and GOGC back as they were before tuneRuntime.
func restoreRuntime(t *testing.T) {
	procs := runtime.GOMAXPROCS(0)
	gc := debug.SetGCPercent(100)
	debug.SetGCPercent(gc)
	t.Cleanup(func() {
		runtime.GOMAXPROCS(procs)
		debug.SetGCPercent(gc)
	})
}

// `canary run` runs on one P and at GOGC=50 unless the environment says
// otherwise: the CPU and memory figures of tests/bench rest on both.
func TestTuneRuntimeDefaults(t *testing.T) {
	restoreRuntime(t)
	t.Setenv("GOMAXPROCS", "")
	t.Setenv("GOGC", "")
	runtime.GOMAXPROCS(4)
	debug.SetGCPercent(100)
	tuneRuntime()
	if got := runtime.GOMAXPROCS(0); got != maxProcs {
		t.Errorf("GOMAXPROCS = %d with the environment unset, want %d", got, maxProcs)
	}
	if got := debug.SetGCPercent(100); got != gcPercent {
		t.Errorf("GOGC = %d with the environment unset, want %d", got, gcPercent)
	}
}

// An operator's GOMAXPROCS or GOGC (a systemd Environment= line) wins: the
// runtime read them at start and tuneRuntime leaves them alone.
func TestTuneRuntimeLeavesTheEnvironmentsChoice(t *testing.T) {
	restoreRuntime(t)
	t.Setenv("GOMAXPROCS", "3")
	t.Setenv("GOGC", "200")
	runtime.GOMAXPROCS(3)
	debug.SetGCPercent(200)
	tuneRuntime()
	if got := runtime.GOMAXPROCS(0); got != 3 {
		t.Errorf("GOMAXPROCS = %d with GOMAXPROCS=3 set, want 3", got)
	}
	if got := debug.SetGCPercent(100); got != 200 {
		t.Errorf("GOGC = %d with GOGC=200 set, want 200", got)
	}
}
