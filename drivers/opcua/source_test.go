package opcua

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gopcua/opcua/ua"

	"canary/config"
	"canary/drivers"
	"canary/drivers/opcua/opcuatest"
)

// run starts a Source for srv and returns its scans; the test's cleanup
// cancels it and checks that Run returned.
func run(t *testing.T, srv *opcuatest.Server, edit func(*config.Device), stateDir string) (*Source, <-chan drivers.Scan) {
	t.Helper()
	return runEnv(t, srv, edit, drivers.Env{StateDir: stateDir})
}

// runEnv is run with the Env (a fake clock) the test gives.
func runEnv(t *testing.T, srv *opcuatest.Server, edit func(*config.Device), env drivers.Env) (*Source, <-chan drivers.Scan) {
	t.Helper()
	d := config.Device{ID: "sis", Driver: "opcua", Endpoint: srv.URL, Security: config.OPCUASecurity{Mode: "None"},
		// A request timeout with room: RSA handshakes under -race on a
		// loaded 2-core machine can take longer than a second.
		Timeout: config.Duration(2 * time.Second), Interval: config.Duration(200 * time.Millisecond),
		PublishInterval: config.Duration(50 * time.Millisecond),
		Points: []config.Point{
			{ID: "ESD-01.trip", Node: "nsu=" + opcuatest.NamespaceURI + ";s=trip"},
			{ID: "PT-1", Node: "nsu=" + opcuatest.NamespaceURI + ";s=pt1"},
		}}
	if edit != nil {
		edit(&d)
	}
	s, err := New(d, env)
	if err != nil {
		t.Fatal(err)
	}
	s.bmin, s.bmax = 50*time.Millisecond, 200*time.Millisecond
	ctx, cancel := context.WithCancel(context.Background())
	out := make(chan drivers.Scan, 4096)
	done := make(chan error, 1)
	go func() {
		done <- s.Run(ctx, func(sc drivers.Scan) {
			sc.Samples = append([]drivers.Sample(nil), sc.Samples...)
			select {
			case out <- sc:
			case <-ctx.Done():
			}
		})
	}()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("Run: %v", err)
			}
		case <-time.After(5 * time.Second):
			t.Error("Run did not return after cancel")
		}
	})
	return s, out
}

// await returns the first scan that ok accepts, failing after 15s.
func await(t *testing.T, scans <-chan drivers.Scan, what string, ok func(drivers.Scan) bool) drivers.Scan {
	t.Helper()
	deadline := time.After(15 * time.Second)
	for {
		select {
		case sc := <-scans:
			if ok(sc) {
				return sc
			}
		case <-deadline:
			t.Fatalf("timed out waiting for %s", what)
		}
	}
}

func find(sc drivers.Scan, point string) (drivers.Sample, bool) {
	for _, s := range sc.Samples {
		if s.Point == point {
			return s, true
		}
	}
	return drivers.Sample{}, false
}

func hasValue(point string, v float64) func(drivers.Scan) bool {
	return func(sc drivers.Scan) bool {
		s, ok := find(sc, point)
		return ok && s.Quality == drivers.Good && s.Value.Float() == v
	}
}

func online(sc drivers.Scan) bool  { return sc.Err == nil && len(sc.Samples) == 2 }
func offline(sc drivers.Scan) bool { return sc.Err != nil }

func vars() map[string]any { return map[string]any{"trip": false, "pt1": 1.5} }

func TestSubscriptionCarriesSourceTimestamps(t *testing.T) {
	srv := opcuatest.Start(t, opcuatest.Options{Vars: vars(), Padding: 1})
	_, scans := run(t, srv, nil, t.TempDir())
	first := await(t, scans, "the read after connect", online)
	if s, _ := find(first, "PT-1"); s.Value.Float() != 1.5 {
		t.Fatalf("initial PT-1 = %v, want 1.5", s.Value)
	}
	ts := time.Date(2021, 3, 4, 5, 6, 7, 0, time.UTC)
	srv.Set("pt1", 42.5, ts)
	sc := await(t, scans, "the change", hasValue("PT-1", 42.5))
	if s, _ := find(sc, "PT-1"); !s.TS.Equal(ts) {
		t.Errorf("TS = %v, want the server's source timestamp %v", s.TS, ts)
	}
	srv.Set("trip", true, ts.Add(time.Second))
	await(t, scans, "the trip", func(sc drivers.Scan) bool { s, ok := find(sc, "ESD-01.trip"); return ok && s.Value.Bool() })
}

func TestReconnectRecreatesSubscription(t *testing.T) {
	srv := opcuatest.Start(t, opcuatest.Options{Vars: vars()})
	s, scans := run(t, srv, nil, t.TempDir())
	await(t, scans, "online", online)
	srv.Stop()
	off := await(t, scans, "offline (Scan.Err)", offline)
	for _, p := range off.Samples {
		if p.Quality != drivers.Bad || p.Reason != drivers.ReasonComm {
			t.Errorf("offline sample %+v, want bad/comm", p)
		}
	}
	if len(off.Samples) != 2 {
		t.Errorf("offline scan has %d samples, want every point", len(off.Samples))
	}
	srv.Restart(3) // the namespace moves: nsu= must be resolved again
	await(t, scans, "online again", online)
	srv.Set("pt1", 7.25, time.Now())
	await(t, scans, "a change after the restart", hasValue("PT-1", 7.25))
	if s.Reconnects() == 0 {
		t.Error("Reconnects = 0")
	}
}

func TestBadStatusIsBadQuality(t *testing.T) {
	srv := opcuatest.Start(t, opcuatest.Options{Vars: vars()})
	_, scans := run(t, srv, func(d *config.Device) { d.Mode = "poll" }, t.TempDir())
	await(t, scans, "online", online)
	srv.SetStatus("pt1", 99.0, ua.StatusBadSensorFailure, time.Now())
	sc := await(t, scans, "bad PT-1", func(sc drivers.Scan) bool { s, ok := find(sc, "PT-1"); return ok && s.Quality != drivers.Good })
	s, _ := find(sc, "PT-1")
	if s.Quality != drivers.Bad || s.Reason != drivers.ReasonSensorFault || s.Value.Kind() != drivers.KindNone {
		t.Errorf("sample %+v: want bad/sensor_fault without a value", s)
	}
}

func TestUnknownNamespaceIsBadConfig(t *testing.T) {
	srv := opcuatest.Start(t, opcuatest.Options{Vars: vars()})
	_, scans := run(t, srv, func(d *config.Device) { d.Points[1].Node = "nsu=urn:nowhere;s=pt1" }, t.TempDir())
	sc := await(t, scans, "online", online)
	if s, _ := find(sc, "PT-1"); s.Quality != drivers.Bad || s.Reason != drivers.ReasonConfig {
		t.Errorf("PT-1 %+v, want bad/config", s)
	}
}

func secure(pin string) func(*config.Device) {
	return func(d *config.Device) {
		d.Security = config.OPCUASecurity{Mode: "SignAndEncrypt", Policy: "Basic256Sha256", ServerCertSHA256: pin}
	}
}

func TestUnpinnedServerRefusedWithThumbprint(t *testing.T) {
	srv := opcuatest.Start(t, opcuatest.Options{Vars: vars()})
	_, scans := run(t, srv, secure(strings.Repeat("ab", 32)), t.TempDir())
	sc := await(t, scans, "refusal", offline)
	if !strings.Contains(sc.Err.Error(), Thumbprint(srv.Cert)) {
		t.Errorf("error %q lacks the thumbprint %s", sc.Err, Thumbprint(srv.Cert))
	}
}

func TestPinnedServerAcceptedAndClientCertKept(t *testing.T) {
	srv := opcuatest.Start(t, opcuatest.Options{Vars: vars()})
	dir := t.TempDir()
	pw := filepath.Join(t.TempDir(), "opcua.pass")
	if err := os.WriteFile(pw, []byte("s3cret\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct{ policy, mode, auth string }{
		{"Basic256Sha256", "SignAndEncrypt", "anonymous"},
		{"Aes128_Sha256_RsaOaep", "SignAndEncrypt", "username"},
		{"Aes256_Sha256_RsaPss", "SignAndEncrypt", "anonymous"},
		{"Aes256_Sha256_RsaPss", "Sign", "anonymous"},
	} {
		policy := c.policy + "/" + c.mode + "/" + c.auth
		t.Run(policy, func(t *testing.T) {
			_, scans := run(t, srv, func(d *config.Device) {
				secure(Thumbprint(srv.Cert))(d)
				d.Security.Policy, d.Security.Mode = c.policy, c.mode
				d.Auth = config.OPCUAAuth{Type: c.auth, Username: "canary", PasswordFile: pw}
			}, dir)
			sc := await(t, scans, "online over "+policy, func(sc drivers.Scan) bool {
				if sc.Err != nil {
					t.Logf("attempt: %v", sc.Err)
				}
				return online(sc)
			})
			if s, _ := find(sc, "PT-1"); s.Value.Float() != 1.5 {
				t.Errorf("PT-1 = %v", s.Value)
			}
		})
	}
	// The certificate made on the first connect is the one every later
	// Source (a restarted agent) uses.
	a, err := loadOrCreateCert(dir, "urn:canary:x")
	if err != nil {
		t.Fatal(err)
	}
	b, err := loadOrCreateCert(dir, "urn:canary:other")
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(a.cert.Raw, b.cert.Raw) {
		t.Error("client certificate changed between loads")
	}
	if _, soon, err := CertExpiry(dir, time.Now()); err != nil || soon {
		t.Errorf("CertExpiry soon=%v err=%v", soon, err)
	}
	if _, soon, _ := CertExpiry(dir, time.Now().Add(certValidity-time.Hour)); !soon {
		t.Error("expiry within 30 days not reported")
	}
}

func TestCancelWhileServerDownReturnsPromptly(t *testing.T) {
	srv := opcuatest.Start(t, opcuatest.Options{Vars: vars()})
	srv.Stop()
	_, scans := run(t, srv, nil, t.TempDir())
	await(t, scans, "offline", offline)
	// cleanup cancels and fails the test if Run takes over 5s
}

func TestInsecureRemoteNeedsFlag(t *testing.T) {
	d := config.Device{ID: "x", Endpoint: "opc.tcp://10.0.0.5:4840", Security: config.OPCUASecurity{Mode: "None"},
		Points: []config.Point{{ID: "p", Node: "i=2258"}}}
	if _, err := New(d, drivers.Env{}); err == nil {
		t.Fatal("security None to a remote host accepted without allow_insecure")
	}
	d.Security.AllowInsecure = true
	s, err := New(d, drivers.Env{})
	if err != nil {
		t.Fatal(err)
	}
	if !s.Info().Insecure || s.Info().Mode != "None" {
		t.Errorf("Info = %+v, want Insecure and mode None", s.Info())
	}
}
