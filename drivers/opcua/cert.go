package opcua

import (
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"net/url"
	"os"
	"path/filepath"
	"sync"
	"time"
)

// Client certificate files under {state_dir}/opcua/. They are generated
// once and reused: servers trust a client by its certificate, so a new one
// on every restart would need IT to trust it again.
const (
	certFile     = "client.crt"
	keyFile      = "client.key"
	certValidity = 10 * 365 * 24 * time.Hour
	// ExpiryWarning is how close to expiry a certificate is reported.
	ExpiryWarning = 30 * 24 * time.Hour
)

// identity is the client's application certificate (DER) and key.
type identity struct {
	cert *x509.Certificate
	key  *rsa.PrivateKey
}

var certMu sync.Mutex // one generator per process; files are renamed into place

// LoadOrCreateCert returns the client certificate in dir/opcua, creating a
// self-signed one with application URI appURI if there is none.
func loadOrCreateCert(stateDir, appURI string) (identity, error) {
	certMu.Lock()
	defer certMu.Unlock()
	dir := filepath.Join(stateDir, "opcua")
	id, err := loadCert(filepath.Join(dir, certFile), filepath.Join(dir, keyFile))
	if err == nil || !errors.Is(err, os.ErrNotExist) {
		return id, err
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return id, fmt.Errorf("opcua: client certificate: %w", err)
	}
	certPEM, keyPEM, err := newCert(appURI, time.Now())
	if err != nil {
		return id, err
	}
	if err := writeAtomic(filepath.Join(dir, keyFile), keyPEM, 0o600); err != nil {
		return id, err
	}
	if err := writeAtomic(filepath.Join(dir, certFile), certPEM, 0o644); err != nil {
		return id, err
	}
	return loadCert(filepath.Join(dir, certFile), filepath.Join(dir, keyFile))
}

func newCert(appURI string, now time.Time) (certPEM, keyPEM []byte, err error) {
	u, err := url.Parse(appURI)
	if err != nil {
		return nil, nil, fmt.Errorf("opcua: application URI %q: %w", appURI, err)
	}
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		return nil, nil, err
	}
	serial, _ := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
	host, _ := os.Hostname()
	tpl := x509.Certificate{
		SerialNumber: serial,
		Subject:      pkix.Name{CommonName: "canary", Organization: []string{"Canary"}},
		NotBefore:    now.Add(-time.Hour), // tolerate a server clock slightly behind
		NotAfter:     now.Add(certValidity),
		KeyUsage: x509.KeyUsageDigitalSignature | x509.KeyUsageContentCommitment |
			x509.KeyUsageKeyEncipherment | x509.KeyUsageDataEncipherment | x509.KeyUsageCertSign,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth, x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
		URIs:                  []*url.URL{u}, // must equal the session's ApplicationURI
	}
	if host != "" {
		tpl.DNSNames = []string{host}
	}
	der, err := x509.CreateCertificate(rand.Reader, &tpl, &tpl, &key.PublicKey, key)
	if err != nil {
		return nil, nil, err
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}),
		pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(key)}), nil
}

func loadCert(certPath, keyPath string) (identity, error) {
	var id identity
	cb, err := os.ReadFile(certPath)
	if err != nil {
		return id, err
	}
	kb, err := os.ReadFile(keyPath)
	if err != nil {
		return id, err
	}
	if id.cert, err = parseCert(cb); err != nil {
		return id, fmt.Errorf("opcua: %s: %w", certPath, err)
	}
	blk, _ := pem.Decode(kb)
	if blk == nil {
		return id, fmt.Errorf("opcua: %s: no PEM key", keyPath)
	}
	k, err := x509.ParsePKCS1PrivateKey(blk.Bytes)
	if err != nil {
		pk, err8 := x509.ParsePKCS8PrivateKey(blk.Bytes)
		rk, ok := pk.(*rsa.PrivateKey)
		if err8 != nil || !ok {
			return id, fmt.Errorf("opcua: %s: want an RSA key: %w", keyPath, err)
		}
		k = rk
	}
	id.key = k
	return id, nil
}

// parseCert reads one certificate, PEM or DER.
func parseCert(b []byte) (*x509.Certificate, error) {
	if blk, _ := pem.Decode(b); blk != nil {
		b = blk.Bytes
	}
	return x509.ParseCertificate(b)
}

func writeAtomic(path string, data []byte, mode os.FileMode) error {
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, data, mode); err != nil {
		return fmt.Errorf("opcua: %w", err)
	}
	if err := os.Rename(tmp, path); err != nil {
		return fmt.Errorf("opcua: %w", err)
	}
	return nil
}

// CertExpiry reports when the client certificate in stateDir expires and
// whether that is within ExpiryWarning of now, for a health warning.
// It returns os.ErrNotExist (wrapped) before the first connect made one.
func CertExpiry(stateDir string, now time.Time) (notAfter time.Time, soon bool, err error) {
	return certExpiry(filepath.Join(stateDir, "opcua", certFile), now)
}

func certExpiry(path string, now time.Time) (notAfter time.Time, soon bool, err error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return time.Time{}, false, err
	}
	c, err := parseCert(b)
	if err != nil {
		return time.Time{}, false, err
	}
	return c.NotAfter, c.NotAfter.Sub(now) < ExpiryWarning, nil
}
