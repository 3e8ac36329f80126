package opcua

import (
	"path/filepath"

	"github.com/gopcua/opcua/ua"

	"canary/drivers"
)

// Certs lists the client certificates this device presents: the
// application certificate (configured, or the one generated in
// {state_dir}/opcua once the first connect made it) unless security is
// None, and the user identity certificate with auth type certificate
// (named device/user). It reads the files, so a renewed one is seen.
func (s *Source) Certs() []drivers.Cert {
	var out []drivers.Cert
	add := func(name, path string) {
		if na, _, err := certExpiry(path, s.clock.Now()); err == nil {
			out = append(out, drivers.Cert{Name: name, File: path, NotAfter: na})
		}
	}
	if s.dialer.mode != ua.MessageSecurityModeNone {
		add(s.dev, s.dialer.appCertPath())
	}
	if s.dialer.auth.kind == "certificate" {
		add(s.dev+"/user", s.dialer.auth.certFile)
	}
	return out
}

// appCertPath is the application certificate's file.
func (d *dialer) appCertPath() string {
	if d.certFile != "" {
		return d.certFile
	}
	return filepath.Join(d.stateDir, "opcua", certFile)
}

// Links describes the device's session for status and metrics.
func (s *Source) Links() []drivers.Link {
	sec := s.info.Mode
	if s.info.Mode != "None" {
		sec += "/" + s.info.Policy
	}
	return []drivers.Link{{Device: s.dev, Security: sec, Insecure: s.info.Insecure, Reconnects: s.reconnects.Load()}}
}

var (
	_ drivers.CertReporter = (*Source)(nil)
	_ drivers.LinkReporter = (*Source)(nil)
)
