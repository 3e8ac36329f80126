package agent

import (
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"math"
	"os"
	"time"

	"canary/drivers"
)

// Certificate expiry checks.
const (
	certWarnBefore = 30 * 24 * time.Hour // cert_expiring this long before NotAfter
	certCheckEvery = 24 * time.Hour      // files are read again this often (agent clock)
)

// certName is the cert_expiring subject of the MQTT client certificate.
const certName = "mqtt"

// CertExpiry raises cert_expiring:name when notAfter is within 30 days
// (severity error once it has passed), and clears it otherwise. The agent
// calls it for the certificates it knows (checkCerts); other code that
// loads a certificate may call it too.
func (a *Agent) CertExpiry(name string, notAfter time.Time) {
	a.certWarning(drivers.Cert{Name: name, NotAfter: notAfter})
}

func (a *Agent) certWarning(c drivers.Cert) {
	left := c.NotAfter.Sub(a.clock.Now())
	sev, when := SevWarning, "expires "+c.NotAfter.UTC().Format(time.RFC3339)+fmt.Sprintf(" (in %.0f days)", math.Ceil(left.Hours()/24))
	if left <= 0 {
		sev, when = SevError, "expired "+c.NotAfter.UTC().Format(time.RFC3339)
	}
	file := ""
	if c.File != "" {
		file = " (" + c.File + ")"
	}
	a.m.health.SetIf(left < certWarnBefore, WarnCertExpiring+":"+c.Name, sev, "certificate "+c.Name+file+" "+when)
}

// checkCerts reads every client certificate the agent presents, the
// sources' and the MQTT uplink's, and sets or clears their warnings.
func (a *Agent) checkCerts() {
	for _, c := range a.certs() {
		a.certWarning(c)
	}
}

func (a *Agent) certs() []drivers.Cert {
	var out []drivers.Cert
	if f := a.cfg.Platform.MQTT.TLS.CertFile; f != "" {
		if na, err := pemNotAfter(f); err == nil {
			out = append(out, drivers.Cert{Name: certName, File: f, NotAfter: na})
		} else {
			a.log.Warn("agent: mqtt client certificate not checked for expiry", "file", f, "err", err)
		}
	}
	for _, src := range a.sources {
		if r, ok := src.(drivers.CertReporter); ok {
			out = append(out, r.Certs()...)
		}
	}
	return out
}

// pemNotAfter is the earliest expiry of the certificates in a PEM file
// (the leaf and any chain sent with it: the first to expire breaks TLS).
func pemNotAfter(path string) (time.Time, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return time.Time{}, fmt.Errorf("agent: %w", err)
	}
	var first time.Time
	for blk, rest := pem.Decode(b); blk != nil; blk, rest = pem.Decode(rest) {
		if blk.Type != "CERTIFICATE" {
			continue
		}
		c, err := x509.ParseCertificate(blk.Bytes)
		if err != nil {
			return time.Time{}, fmt.Errorf("agent: %s: %w", path, err)
		}
		if first.IsZero() || c.NotAfter.Before(first) {
			first = c.NotAfter
		}
	}
	if first.IsZero() {
		return first, fmt.Errorf("agent: %s: no PEM certificate", path)
	}
	return first, nil
}
