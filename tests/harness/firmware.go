package harness

import (
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"
)

// VersionBinary builds the canary binary stamped as version (-X
// main.version), as a release would, into a directory of tb; the build
// cache makes every build after the first one a link.
func VersionBinary(tb testing.TB, version string) string {
	tb.Helper()
	out := filepath.Join(tb.TempDir(), "canary-"+version)
	cmd := exec.Command("go", "build", "-trimpath", "-ldflags", "-X main.version="+version, "-o", out, ".")
	cmd.Dir = ModuleRoot(tb)
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if b, err := cmd.CombinedOutput(); err != nil {
		tb.Fatalf("go build %s: %v\n%s", version, err, b)
	}
	return out
}

// StartGroup runs bin with args in a process group of its own, so the
// cleanup's SIGKILL reaches what it started too (the firmware launcher's
// trial child). Stop sends SIGTERM to bin only, as systemd does first.
func StartGroup(tb testing.TB, bin string, args ...string) *Agent {
	tb.Helper()
	f, err := os.CreateTemp(tb.TempDir(), "proc-*.stderr")
	if err != nil {
		tb.Fatal(err)
	}
	a := &Agent{cmd: exec.Command(bin, args...), stderr: f.Name(), done: make(chan struct{})}
	a.cmd.Stderr = f
	a.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := a.cmd.Start(); err != nil {
		tb.Fatal(err)
	}
	go func() { a.err = a.cmd.Wait(); f.Close(); close(a.done) }()
	tb.Cleanup(func() {
		_ = syscall.Kill(-a.Pid(), syscall.SIGKILL)
		<-a.done
		if tb.Failed() {
			tb.Logf("process %d %s", a.Pid(), a.StderrTail(6000))
		}
	})
	return a
}

// ExitCode is the exit code once Done is closed (-1 if killed by a
// signal).
func (a *Agent) ExitCode() int { return a.cmd.ProcessState.ExitCode() }
