package firmware

import (
	"bytes"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
)

// Bundle layout (all integers big-endian):
//
//	offset  size  field
//	0       8     magic "CNRYFW1\n"
//	8       4     manifest length N, 1..MaxManifest
//	12      N     manifest JSON, exactly the signed bytes
//	12+N    64    Ed25519 signature over the N manifest bytes
//	76+N    S     payload, S = manifest.payload.size; then end of file
const (
	Magic       = "CNRYFW1\n"
	MaxManifest = 64 << 10
	headerFixed = len(Magic) + 4
)

// Header is the verified-or-not front of a bundle.
type Header struct {
	Manifest  *Manifest
	Raw       []byte // the manifest bytes as signed
	Signature []byte
}

// ReadHeader reads the magic, manifest and signature from r, leaving r at
// the first payload byte. It checks the form, not the signature.
func ReadHeader(r io.Reader) (*Header, error) {
	var fixed [headerFixed]byte
	if _, err := io.ReadFull(r, fixed[:]); err != nil {
		return nil, fmt.Errorf("%w: header: %v", ErrMalformed, err)
	}
	if string(fixed[:len(Magic)]) != Magic {
		return nil, fmt.Errorf("%w: not a canary bundle (bad magic)", ErrMalformed)
	}
	n := binary.BigEndian.Uint32(fixed[len(Magic):])
	if n == 0 || n > MaxManifest {
		return nil, fmt.Errorf("%w: manifest length %d", ErrMalformed, n)
	}
	buf := make([]byte, int(n)+ed25519.SignatureSize)
	if _, err := io.ReadFull(r, buf); err != nil {
		return nil, fmt.Errorf("%w: manifest and signature: %v", ErrMalformed, err)
	}
	raw, sig := buf[:n:n], buf[n:]
	m, err := parseManifest(raw)
	if err != nil {
		return nil, err
	}
	return &Header{Manifest: m, Raw: raw, Signature: sig}, nil
}

// ParseBundle splits a whole bundle held in memory, checking its form,
// payload length and hash, but not the signature or any policy.
func ParseBundle(b []byte) (*Header, []byte, error) {
	r := bytes.NewReader(b)
	h, err := ReadHeader(r)
	if err != nil {
		return nil, nil, err
	}
	payload := b[len(b)-r.Len():]
	if err := checkPayload(h.Manifest, int64(len(payload)), sha256.Sum256(payload)); err != nil {
		return nil, nil, err
	}
	return h, payload, nil
}

func checkPayload(m *Manifest, n int64, sum [32]byte) error {
	switch {
	case n < m.Payload.Size:
		return fmt.Errorf("%w: %d of %d bytes", ErrTruncated, n, m.Payload.Size)
	case n > m.Payload.Size:
		return fmt.Errorf("%w: more than the %d bytes the manifest signs", ErrTrailing, m.Payload.Size)
	case hex.EncodeToString(sum[:]) != m.Payload.SHA256:
		return fmt.Errorf("%w: got %x, manifest says %s", ErrHash, sum, m.Payload.SHA256)
	}
	return nil
}

// Sign writes a bundle for the payload file to w. It fills m.Payload from
// the file; the rest of m is the caller's.
func Sign(w io.Writer, payloadPath string, m Manifest, key ed25519.PrivateKey) (*Manifest, error) {
	f, err := os.Open(payloadPath)
	if err != nil {
		return nil, fmt.Errorf("firmware: sign: %w", err)
	}
	defer f.Close()
	h := sha256.New()
	n, err := io.Copy(h, f)
	if err != nil {
		return nil, fmt.Errorf("firmware: sign: %w", err)
	}
	m.Format, m.Product = ManifestFormat, Product
	m.Payload = Payload{SHA256: hex.EncodeToString(h.Sum(nil)), Size: n}
	if err := m.validate(); err != nil {
		return nil, fmt.Errorf("firmware: sign: %w", err)
	}
	raw, err := json.MarshalIndent(m, "", "  ")
	if err != nil {
		return nil, fmt.Errorf("firmware: sign: %w", err)
	}
	if _, err := f.Seek(0, io.SeekStart); err != nil {
		return nil, fmt.Errorf("firmware: sign: %w", err)
	}
	if err := writeBundle(w, raw, ed25519.Sign(key, raw), io.LimitReader(f, n)); err != nil {
		return nil, fmt.Errorf("firmware: sign: %w", err)
	}
	return &m, nil
}

func writeBundle(w io.Writer, raw, sig []byte, payload io.Reader) error {
	var hdr [headerFixed]byte
	copy(hdr[:], Magic)
	binary.BigEndian.PutUint32(hdr[len(Magic):], uint32(len(raw)))
	for _, b := range [][]byte{hdr[:], raw, sig} {
		if _, err := w.Write(b); err != nil {
			return err
		}
	}
	_, err := io.Copy(w, payload)
	return err
}

// errorsIsAny reports whether err wraps any of targets.
func errorsIsAny(err error, targets ...error) bool {
	for _, t := range targets {
		if errors.Is(err, t) {
			return true
		}
	}
	return false
}
