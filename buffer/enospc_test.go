package buffer_test

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"

	"canary/buffer"
	"canary/buffer/buffertest"
)

// skipUnlessCI skips a test that cannot run here, except under CI=true,
// where it fails: CI provides what these tests need (root, re-exec,
// qemu-arm-static), so a skip there would hide a broken CI. The same rule
// as modbustest.PtyPair and mqtttest.StartMosquitto.
func skipUnlessCI(t *testing.T, format string, args ...any) {
	t.Helper()
	msg := fmt.Sprintf(format, args...)
	if os.Getenv("CI") == "true" {
		t.Fatalf("%s, and CI=true: this test must run in CI", msg)
	}
	t.Skip(msg)
}

// smallDisk mounts a 4 MiB tmpfs, when the test may (root, Linux), so the
// outbox meets a real ENOSPC.
func smallDisk(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	if os.Geteuid() != 0 {
		skipUnlessCI(t, "buffer: needs root to mount a small tmpfs")
	}
	if out, err := exec.Command("mount", "-t", "tmpfs", "-o", "size=4m", "tmpfs", dir).CombinedOutput(); err != nil {
		skipUnlessCI(t, "buffer: cannot mount a small tmpfs: %v %s", err, out)
	}
	t.Cleanup(func() { exec.Command("umount", dir).Run() })
	return dir
}

// A full disk makes Append fail with ENOSPC and leaves the outbox usable
// and consistent: what was stored can still be sent and acked, and once
// space is freed Append works again.
func TestBoltDiskFull(t *testing.T) {
	dir := smallDisk(t)
	o := buffertest.Options()
	o.MaxBytes = 64 << 20 // the budget would allow far more than the disk holds
	path := filepath.Join(dir, "outbox.db")
	b, err := buffer.OpenBolt(path, o)
	if err != nil {
		t.Fatal(err)
	}
	ballast := filepath.Join(dir, "ballast")
	os.WriteFile(ballast, make([]byte, 1<<20), 0o600)
	var stored int
	for i := 0; ; i++ {
		_, err := b.Append([]buffer.Record{{Lane: buffer.LaneData, Payload: buffertest.Payload(i, 4000)}})
		if err != nil {
			if !errors.Is(err, syscall.ENOSPC) {
				t.Fatalf("append %d: %v, want ENOSPC", i, err)
			}
			break
		}
		stored++
		if i > 10_000 {
			t.Fatal("the disk never filled")
		}
	}
	if d := b.Stats().Lanes[buffer.LaneData].Depth; d != stored {
		t.Errorf("depth %d after the failed append, want %d", d, stored)
	}
	out, err := b.Begin(10)
	if err != nil || len(out) != 10 {
		t.Fatalf("Begin on a full disk: %d records, %v", len(out), err)
	}
	os.Remove(ballast)
	if err := b.Ack(out); err != nil {
		t.Fatalf("Ack after freeing space: %v", err)
	}
	if _, err := b.Append([]buffer.Record{{Lane: buffer.LaneEvent, Payload: []byte("after")}}); err != nil {
		t.Fatalf("Append after freeing space: %v", err)
	}
	if err := b.Close(); err != nil {
		t.Fatal(err)
	}
	if err := buffer.Check(path); err != nil {
		t.Fatal(err)
	}
	b, err = buffer.OpenBolt(path, o)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	if d := b.Stats().Lanes[buffer.LaneData].Depth; d != stored-10 {
		t.Errorf("depth %d after reopen, want %d", d, stored-10)
	}
}
