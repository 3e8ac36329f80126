package tests

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"testing"
)

var (
	buildOnce sync.Once
	binPath   string
	buildErr  error
	buildOut  []byte
)

// canaryBinary builds the canary binary once per test run.
func canaryBinary(t *testing.T) string {
	t.Helper()
	buildOnce.Do(func() {
		dir, err := os.MkdirTemp("", "canary-e2e-bin-")
		if err != nil {
			buildErr = err
			return
		}
		binPath = filepath.Join(dir, "canary")
		cmd := exec.Command("go", "build", "-o", binPath, ".")
		cmd.Dir = ".."
		buildOut, buildErr = cmd.CombinedOutput()
	})
	if buildErr != nil {
		t.Fatalf("build canary: %v\n%s", buildErr, buildOut)
	}
	return binPath
}

// agentProc is a running canary process whose stderr is kept for the
// failure message.
type agentProc struct {
	cmd    *exec.Cmd
	stderr *bytes.Buffer
	done   chan struct{} // closed when the process has exited
	err    error         // its exit status, valid after done
}

func startAgent(t *testing.T, bin, cfg string) *agentProc {
	t.Helper()
	p := &agentProc{stderr: &bytes.Buffer{}, done: make(chan struct{})}
	p.cmd = exec.Command(bin, "run", "-c", cfg, "--log-level", "debug")
	p.cmd.Stderr = &lockedWriter{w: p.stderr}
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { p.err = p.cmd.Wait(); close(p.done) }()
	t.Cleanup(func() {
		_ = p.cmd.Process.Kill()
		<-p.done
		if t.Failed() {
			t.Logf("agent %d stderr:\n%s", p.cmd.Process.Pid, tail(p.stderr.String(), 4000))
		}
	})
	return p
}

type lockedWriter struct {
	mu sync.Mutex
	w  *bytes.Buffer
}

func (l *lockedWriter) Write(b []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(b)
}

func tail(s string, n int) string {
	if len(s) > n {
		return "…" + s[len(s)-n:]
	}
	return s
}
