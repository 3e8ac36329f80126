package agent

import (
	"runtime"
	"runtime/debug"
	"testing"
)

// `canary run` runs on one P and at GOGC=50 unless the environment says
// otherwise (the CPU and memory figures of tests/bench rest on both); an
// operator's GOMAXPROCS or GOGC (a systemd Environment= line), which the
// runtime read at start, wins.
func TestTuneRuntime(t *testing.T) {
	procs := runtime.GOMAXPROCS(0)
	gc := debug.SetGCPercent(100)
	t.Cleanup(func() {
		runtime.GOMAXPROCS(procs)
		debug.SetGCPercent(gc)
	})
	for _, c := range []struct {
		name                string
		envProcs, envGC     string
		startProcs, startGC int // what the runtime took from the environment
		wantProcs, wantGC   int
	}{
		{"environment unset", "", "", 4, 100, maxProcs, gcPercent},
		{"environment set", "3", "200", 3, 200, 3, 200},
	} {
		t.Run(c.name, func(t *testing.T) {
			t.Setenv("GOMAXPROCS", c.envProcs)
			t.Setenv("GOGC", c.envGC)
			runtime.GOMAXPROCS(c.startProcs)
			debug.SetGCPercent(c.startGC)
			tuneRuntime()
			if got := runtime.GOMAXPROCS(0); got != c.wantProcs {
				t.Errorf("GOMAXPROCS = %d, want %d", got, c.wantProcs)
			}
			if got := debug.SetGCPercent(100); got != c.wantGC {
				t.Errorf("GOGC = %d, want %d", got, c.wantGC)
			}
		})
	}
}
