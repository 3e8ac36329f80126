package opcua

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// Thumbprint is the SHA-256 of a DER certificate, lowercase hex: the form
// of security.server_cert_sha256.
func Thumbprint(der []byte) string {
	sum := sha256.Sum256(der)
	return hex.EncodeToString(sum[:])
}

func normThumb(s string) string { return strings.ToLower(strings.ReplaceAll(s, ":", "")) }

// trust decides whether a server certificate is acceptable: it matches the
// pinned thumbprint, or a certificate in the trust folder. The folder is
// re-read on every check so IT can drop a file in without a restart.
type trust struct {
	pin string // normalised hex, "" for none
	dir string
}

func (t trust) check(der []byte) error {
	tp := Thumbprint(der)
	if t.pin != "" && normThumb(t.pin) == tp {
		return nil
	}
	if t.dir != "" && t.inDir(tp) {
		return nil
	}
	subject := "?"
	if c, err := parseCert(der); err == nil {
		subject = fmt.Sprintf("%q, expires %s", c.Subject.String(), c.NotAfter.Format("2006-01-02"))
	}
	return fmt.Errorf("%w: certificate SHA-256 %s (%s) is not pinned: set security.server_cert_sha256: %q or put the certificate in the trust_dir",
		ErrUntrustedServer, tp, subject, tp)
}

func (t trust) inDir(tp string) bool {
	entries, err := os.ReadDir(t.dir)
	if err != nil {
		return false
	}
	for _, e := range entries {
		b, err := os.ReadFile(filepath.Join(t.dir, e.Name()))
		if err != nil || e.IsDir() {
			continue
		}
		if c, err := parseCert(b); err == nil && Thumbprint(c.Raw) == tp {
			return true
		}
	}
	return false
}
