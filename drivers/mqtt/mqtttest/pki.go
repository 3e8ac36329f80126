package mqtttest

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// PKI is a throw-away certificate authority with a server certificate for
// 127.0.0.1/localhost and a client certificate, all as PEM files in Dir.
type PKI struct {
	Dir                           string
	CAFile                        string
	ServerCertFile, ServerKeyFile string
	ClientCertFile, ClientKeyFile string

	CAPool *x509.CertPool
	Server tls.Certificate
	Client tls.Certificate
}

// NewTestPKI creates a PKI in t.TempDir().
func NewTestPKI(t testing.TB) *PKI {
	t.Helper()
	p, err := NewPKI(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// NewPKI creates a PKI in dir (ECDSA P-256, valid for one day).
func NewPKI(dir string) (*PKI, error) {
	p := &PKI{Dir: dir, CAPool: x509.NewCertPool()}
	caKey, ca, err := p.issueCA()
	if err != nil {
		return nil, err
	}
	server := &x509.Certificate{
		Subject:     pkix.Name{CommonName: "localhost"},
		DNSNames:    []string{"localhost"},
		IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1), net.IPv6loopback},
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	if p.Server, err = p.issue("server", server, ca, caKey); err != nil {
		return nil, err
	}
	client := &x509.Certificate{
		Subject:     pkix.Name{CommonName: "canary-test-client"},
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
	}
	if p.Client, err = p.issue("client", client, ca, caKey); err != nil {
		return nil, err
	}
	p.ServerCertFile, p.ServerKeyFile = p.path("server.pem"), p.path("server-key.pem")
	p.ClientCertFile, p.ClientKeyFile = p.path("client.pem"), p.path("client-key.pem")
	return p, nil
}

// ServerTLS is a listener config; requireClientCert turns on mutual TLS.
func (p *PKI) ServerTLS(requireClientCert bool) *tls.Config {
	c := &tls.Config{Certificates: []tls.Certificate{p.Server}, MinVersion: tls.VersionTLS12}
	if requireClientCert {
		c.ClientAuth, c.ClientCAs = tls.RequireAndVerifyClientCert, p.CAPool
	}
	return c
}

func (p *PKI) path(name string) string { return filepath.Join(p.Dir, name) }

func (p *PKI) issueCA() (*ecdsa.PrivateKey, *x509.Certificate, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, nil, fmt.Errorf("mqtttest: pki: %w", err)
	}
	tmpl := &x509.Certificate{
		Subject:               pkix.Name{CommonName: "canary test CA"},
		IsCA:                  true,
		BasicConstraintsValid: true,
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature,
	}
	der, err := p.sign(tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return nil, nil, err
	}
	ca, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, nil, fmt.Errorf("mqtttest: pki: %w", err)
	}
	p.CAFile = p.path("ca.pem")
	p.CAPool.AddCert(ca)
	return key, ca, writePEM(p.CAFile, "CERTIFICATE", der)
}

func (p *PKI) issue(name string, tmpl, ca *x509.Certificate, caKey *ecdsa.PrivateKey) (tls.Certificate, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return tls.Certificate{}, fmt.Errorf("mqtttest: pki: %w", err)
	}
	tmpl.KeyUsage = x509.KeyUsageDigitalSignature
	der, err := p.sign(tmpl, ca, &key.PublicKey, caKey)
	if err != nil {
		return tls.Certificate{}, err
	}
	keyDER, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		return tls.Certificate{}, fmt.Errorf("mqtttest: pki: %w", err)
	}
	if err := writePEM(p.path(name+".pem"), "CERTIFICATE", der); err != nil {
		return tls.Certificate{}, err
	}
	if err := writePEM(p.path(name+"-key.pem"), "EC PRIVATE KEY", keyDER); err != nil {
		return tls.Certificate{}, err
	}
	return tls.LoadX509KeyPair(p.path(name+".pem"), p.path(name+"-key.pem"))
}

func (p *PKI) sign(tmpl, parent *x509.Certificate, pub *ecdsa.PublicKey, priv *ecdsa.PrivateKey) ([]byte, error) {
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 62))
	if err != nil {
		return nil, fmt.Errorf("mqtttest: pki: %w", err)
	}
	tmpl.SerialNumber = serial
	tmpl.NotBefore = time.Now().Add(-time.Hour)
	tmpl.NotAfter = time.Now().Add(24 * time.Hour)
	der, err := x509.CreateCertificate(rand.Reader, tmpl, parent, pub, priv)
	if err != nil {
		return nil, fmt.Errorf("mqtttest: pki: %w", err)
	}
	return der, nil
}

func writePEM(path, typ string, der []byte) error {
	b := pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der})
	if err := os.WriteFile(path, b, 0o600); err != nil {
		return fmt.Errorf("mqtttest: pki: %w", err)
	}
	return nil
}
