package agent

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"math/big"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"canary/agent/clock"
	"canary/config"
)

// writeCert writes a self-signed certificate valid until notAfter, and
// its key, as PEM files in dir.
func writeCert(t *testing.T, dir, name string, notAfter time.Time) (certFile, keyFile string) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tpl := x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: name},
		NotBefore: notAfter.Add(-365 * 24 * time.Hour), NotAfter: notAfter}
	der, err := x509.CreateCertificate(rand.Reader, &tpl, &tpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	kb, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	certFile, keyFile = filepath.Join(dir, name+".crt"), filepath.Join(dir, name+".key")
	if err := os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: kb}), 0o600); err != nil {
		t.Fatal(err)
	}
	return certFile, keyFile
}

func warningOf(ws []Warning, code string) (Warning, bool) {
	for _, w := range ws {
		if w.Code == code {
			return w, true
		}
	}
	return Warning{}, false
}

type healthz struct {
	OK       bool      `json:"ok"`
	Reasons  []string  `json:"reasons"`
	Warnings []Warning `json:"warnings"`
}

func getHealthz(t *testing.T, a *Agent) (int, healthz) {
	t.Helper()
	rec := httptest.NewRecorder()
	a.httpHandler().ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/healthz", nil))
	var h healthz
	if err := json.Unmarshal(rec.Body.Bytes(), &h); err != nil {
		t.Fatalf("/healthz %q: %v", rec.Body.String(), err)
	}
	return rec.Code, h
}

// The OPC UA device's configured client certificate and the MQTT client
// certificate are checked at start and again every day by the agent
// clock: cert_expiring:<name> appears in status and /healthz 30 days
// before expiry, as an error (503) once expired.
func TestCertExpiryWarnings(t *testing.T) {
	start := time.Now()
	clk := clock.NewFake(start)
	dir := t.TempDir()
	mqttCert, mqttKey := writeCert(t, dir, "mqtt", start.Add(40*24*time.Hour))
	uaCert, uaKey := writeCert(t, dir, "opcua", start.Add(10*24*time.Hour))
	dev := opcuaDevice("sis", "opc.tcp://127.0.0.1:1") // nobody listens: the device is offline, its certificate still counts
	dev.Security = config.OPCUASecurity{Mode: "SignAndEncrypt", ServerCertSHA256: strings.Repeat("ab", 32),
		CertFile: uaCert, KeyFile: uaKey}
	sink := &fakeSink{}
	a := opcuaAgent(t, sink, func(c *config.Config, o *Options) {
		o.Clock = clk
		c.Platform.MQTT.TLS.CertFile, c.Platform.MQTT.TLS.KeyFile = mqttCert, mqttKey
	}, dev)
	stop := runAgent(a, sink)
	defer stop()

	waitFor(t, 10*time.Second, func() bool { return a.m.health.Active(WarnCertExpiring + ":sis") })
	ws := a.status("online").Warnings
	if w, _ := warningOf(ws, WarnCertExpiring+":sis"); w.Severity != SevWarning || !strings.Contains(w.Message, uaCert) {
		t.Errorf("cert_expiring:sis = %+v, want a warning naming %s", w, uaCert)
	}
	if w, ok := warningOf(ws, WarnCertExpiring+":mqtt"); ok {
		t.Errorf("MQTT certificate 40 days from expiry reported: %+v", w)
	}
	_, h := getHealthz(t, a)
	if _, ok := warningOf(h.Warnings, WarnCertExpiring+":sis"); !ok {
		t.Errorf("/healthz warnings %+v lack cert_expiring:sis", h.Warnings)
	}

	clk.Advance(11 * 24 * time.Hour) // the daily check: sis expired, mqtt within 30 days
	waitFor(t, 10*time.Second, func() bool { return a.m.health.Active(WarnCertExpiring + ":mqtt") })
	ws = a.status("online").Warnings
	if w, _ := warningOf(ws, WarnCertExpiring+":sis"); w.Severity != SevError || !strings.Contains(w.Message, "expired") {
		t.Errorf("expired cert_expiring:sis = %+v, want severity error", w)
	}
	if w, _ := warningOf(ws, WarnCertExpiring+":mqtt"); w.Severity != SevWarning || !strings.Contains(w.Message, "in 29 days") {
		t.Errorf("cert_expiring:mqtt = %+v, want a warning, in 29 days", w)
	}
	code, h := getHealthz(t, a)
	if code != http.StatusServiceUnavailable || !strings.Contains(strings.Join(h.Reasons, "\n"), WarnCertExpiring+":sis") {
		t.Errorf("/healthz %d %+v: want 503 with reason cert_expiring:sis", code, h.Reasons)
	}
}
