package harness

import (
	"os/exec"
	"testing"
	"time"
)

// The benchmarks' CPU figures come from cpuClock: it must read another
// process's CPU time, all of it, and agree with /proc/PID/stat's ticks.
func TestCPUClockOfAnotherProcess(t *testing.T) {
	busy := exec.Command("/bin/sh", "-c", "while :; do :; done")
	idle := exec.Command("/bin/sh", "-c", "sleep 5")
	for _, c := range []*exec.Cmd{busy, idle} {
		if err := c.Start(); err != nil {
			t.Fatal(err)
		}
		defer c.Wait()
		defer c.Process.Kill()
	}
	time.Sleep(400 * time.Millisecond)
	b, err := cpuClock(busy.Process.Pid)
	if err != nil {
		t.Fatalf("cpuClock: %v", err)
	}
	ticks, err := cpuFromTicks(busy.Process.Pid)
	if err != nil {
		t.Fatal(err)
	}
	if b < 20*time.Millisecond {
		t.Errorf("a busy loop for 400 ms used %v of CPU by its clock", b)
	}
	if d := b - ticks; d < -30*time.Millisecond || d > 30*time.Millisecond {
		t.Errorf("clock %v and /proc/PID/stat %v differ by more than three ticks", b, ticks)
	}
	if i, err := cpuClock(idle.Process.Pid); err != nil || i > 10*time.Millisecond {
		t.Errorf("sleep used %v of CPU (%v)", i, err)
	}
	gone := exec.Command("/bin/true")
	if err := gone.Run(); err != nil {
		t.Fatal(err)
	}
	if d, err := cpuClock(gone.Process.Pid); err == nil {
		t.Errorf("%v and no error for a process that has exited", d)
	}
}
