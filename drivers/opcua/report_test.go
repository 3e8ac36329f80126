package opcua

import (
	"crypto/x509"
	"encoding/pem"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"canary/config"
	"canary/drivers"
	"canary/drivers/opcua/opcuatest"
)

// writeCertPair writes a test certificate (valid 24 h) and its key as
// PEM files.
func writeCertPair(t *testing.T, dir string) (certPath, keyPath string) {
	t.Helper()
	der, key := opcuatest.NewCert(t, "urn:canary:user")
	certPath, keyPath = filepath.Join(dir, "c.crt"), filepath.Join(dir, "c.key")
	if err := os.WriteFile(certPath, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	kp := pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(key)})
	if err := os.WriteFile(keyPath, kp, 0o600); err != nil {
		t.Fatal(err)
	}
	return certPath, keyPath
}

func TestCertsListsWhatTheDevicePresents(t *testing.T) {
	srv := opcuatest.Start(t, opcuatest.Options{Vars: vars()})
	dir := t.TempDir()
	d := config.Device{ID: "sis", Endpoint: srv.URL, Points: []config.Point{{ID: "p", Node: "i=2258"}}}
	secure(Thumbprint(srv.Cert))(&d)
	if idle, err := New(d, drivers.Env{StateDir: dir}); err != nil || len(idle.Certs()) != 0 {
		t.Fatalf("before the first connect made one: Certs = %+v, err %v", idle.Certs(), err)
	}
	s, scans := run(t, srv, secure(Thumbprint(srv.Cert)), dir)
	await(t, scans, "online", online)
	got := s.Certs()
	if len(got) != 1 || got[0].Name != "sis" || got[0].File != filepath.Join(dir, "opcua", certFile) ||
		got[0].NotAfter.Before(time.Now().Add(certValidity-48*time.Hour)) {
		t.Errorf("Certs after connect = %+v, want the generated certificate, valid about 10 years", got)
	}

	cf, kf := writeCertPair(t, t.TempDir())
	d = config.Device{ID: "sis", Endpoint: srv.URL, Security: config.OPCUASecurity{Mode: "Sign",
		Policy: "Basic256Sha256", ServerCertSHA256: Thumbprint(srv.Cert), CertFile: cf, KeyFile: kf},
		Auth:   config.OPCUAAuth{Type: "certificate", CertFile: cf, KeyFile: kf},
		Points: []config.Point{{ID: "p", Node: "i=2258"}}}
	u, err := New(d, drivers.Env{StateDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	got = u.Certs()
	if len(got) != 2 || got[0].Name != "sis" || got[0].File != cf || got[1].Name != "sis/user" ||
		got[1].NotAfter.After(time.Now().Add(25*time.Hour)) {
		t.Errorf("Certs with configured files = %+v, want sis and sis/user from %s expiring within a day", got, cf)
	}
	d.Security, d.Auth = config.OPCUASecurity{Mode: "None"}, config.OPCUAAuth{}
	if n, _ := New(d, drivers.Env{}); len(n.Certs()) != 0 {
		t.Errorf("security None presents no certificate; Certs = %+v", n.Certs())
	}
}

func TestLinksDescribeSecurity(t *testing.T) {
	for _, c := range []struct {
		sec      config.OPCUASecurity
		endpoint string
		want     drivers.Link
	}{
		{config.OPCUASecurity{Mode: "None"}, "opc.tcp://127.0.0.1:4840", drivers.Link{Device: "x", Security: "None"}},
		{config.OPCUASecurity{Mode: "None", AllowInsecure: true}, "opc.tcp://10.0.0.5:4840",
			drivers.Link{Device: "x", Security: "None", Insecure: true}},
		{config.OPCUASecurity{ServerCertSHA256: strings.Repeat("ab", 32)}, "opc.tcp://10.0.0.5:4840",
			drivers.Link{Device: "x", Security: "SignAndEncrypt/Basic256Sha256"}},
	} {
		s, err := New(config.Device{ID: "x", Endpoint: c.endpoint, Security: c.sec,
			Points: []config.Point{{ID: "p", Node: "i=2258"}}}, drivers.Env{})
		if err != nil {
			t.Fatal(err)
		}
		if got := s.Links(); len(got) != 1 || got[0] != c.want {
			t.Errorf("%+v to %s: Links = %+v, want %+v", c.sec, c.endpoint, got, c.want)
		}
	}
}
