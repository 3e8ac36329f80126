package modbustest

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"
)

// PtyPair starts `socat` joining two pseudo-terminals, a serial line
// without hardware, and returns their paths; it is stopped when the test
// ends. Without socat the test is skipped, except under CI=true, where it
// fails: CI installs socat, so a missing one is a broken CI.
func PtyPair(t testing.TB) (client, server string) {
	t.Helper()
	bin, err := exec.LookPath("socat")
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal("socat is not installed, and CI=true: RTU tests over a pty pair must run in CI")
		}
		t.Skip("socat not installed: skipping the RTU test over a pty pair (install socat to run it)")
	}
	dir := t.TempDir()
	client, server = filepath.Join(dir, "client"), filepath.Join(dir, "server")
	ctx, cancel := context.WithCancel(context.Background())
	cmd := exec.CommandContext(ctx, bin, "pty,raw,echo=0,link="+client, "pty,raw,echo=0,link="+server)
	if err := cmd.Start(); err != nil {
		cancel()
		t.Fatalf("socat: %v", err)
	}
	t.Cleanup(func() { cancel(); cmd.Wait() })
	deadline := time.Now().Add(5 * time.Second)
	for {
		_, e1 := os.Stat(client)
		_, e2 := os.Stat(server)
		if e1 == nil && e2 == nil {
			return client, server
		}
		if time.Now().After(deadline) {
			t.Fatal("socat did not create the pty pair within 5s")
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// StartRTUOnPty serves an RTU slave on the server end of a pty pair and
// returns the slave and the client end's path.
func StartRTUOnPty(t testing.TB) (*RTU, string) {
	t.Helper()
	client, server := PtyPair(t)
	f, err := os.OpenFile(server, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	r := NewRTU()
	r.ServeFile(f)
	t.Cleanup(r.Close)
	return r, client
}

// StartRTUOverTCP serves an RTU slave over TCP on loopback.
func StartRTUOverTCP(t testing.TB) (*RTU, string) {
	t.Helper()
	r := NewRTU()
	addr, err := r.ListenTCP()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(r.Close)
	return r, addr
}
