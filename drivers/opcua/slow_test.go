package opcua

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"canary/config"
	"canary/drivers"
	"canary/drivers/opcua/opcuatest"
)

// A device whose consumer never returns from emit stalls only its own
// session: another device on the same server keeps delivering.
func TestSlowConsumerDoesNotStallOtherDevices(t *testing.T) {
	srv := opcuatest.Start(t, opcuatest.Options{Vars: vars()})
	stuck := config.Device{ID: "stuck", Endpoint: srv.URL, Security: config.OPCUASecurity{Mode: "None"},
		Timeout: config.Duration(time.Second), Interval: config.Duration(time.Second),
		PublishInterval: config.Duration(20 * time.Millisecond),
		Points:          []config.Point{{ID: "S-1", Node: "nsu=" + opcuatest.NamespaceURI + ";s=pt1"}}}
	s, err := New(stuck, drivers.Env{StateDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	release := make(chan struct{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		n := 0
		s.Run(ctx, func(drivers.Scan) {
			if n++; n <= 2 {
				return // the read after connect and the first notification
			}
			select { // then block until the end of the test
			case <-release:
			case <-ctx.Done():
			}
		})
	}()
	defer func() { cancel(); close(release); <-done }()

	waitUntil(t, func() bool { return s.Notifications() > 0 }, "the stuck device's subscription")
	_, scans := run(t, srv, nil, t.TempDir())
	await(t, scans, "online", online)
	for i := range 50 {
		srv.Set("pt1", float64(i), time.Now())
		time.Sleep(5 * time.Millisecond)
	}
	await(t, scans, "the last change on the healthy device", hasValue("PT-1", 49))
}

func TestTrustDirAccepted(t *testing.T) {
	srv := opcuatest.Start(t, opcuatest.Options{Vars: vars()})
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "plc.der"), srv.Cert, 0o644); err != nil {
		t.Fatal(err)
	}
	_, scans := run(t, srv, func(d *config.Device) {
		d.Security = config.OPCUASecurity{Mode: "SignAndEncrypt", Policy: "Basic256Sha256", TrustDir: dir}
	}, t.TempDir())
	await(t, scans, "online via trust_dir", online)
}

func waitUntil(t *testing.T, ok func() bool, what string) {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for !ok() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}
