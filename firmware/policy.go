package firmware

import (
	"crypto/ed25519"
	"crypto/sha256"
	"fmt"
	"io"
	"time"
)

// DefaultMaxPayload bounds a payload when Policy.MaxPayload is zero; a
// stripped canary is about a tenth of it.
const DefaultMaxPayload = 64 << 20

// Policy decides whether a bundle may run here. The zero value refuses
// everything: there are no trusted keys.
type Policy struct {
	Keys       []ed25519.PublicKey // trusted signers; none → every bundle is refused
	Target     Target              // this device; zero → Host()
	Current    string              // running version; not semver ("dev") → 0.0.0-dev
	Now        func() time.Time    // nil → time.Now
	MaxPayload int64               // 0 → DefaultMaxPayload
}

// Check verifies the header's signature and that its manifest fits this
// device. The error, if any, is a *RejectError.
func (p Policy) Check(h *Header) error {
	if err := p.check(h); err != nil {
		return &RejectError{Version: h.Manifest.Version, Err: err}
	}
	return nil
}

func (p Policy) check(h *Header) error {
	m := h.Manifest
	if len(p.Keys) == 0 {
		return ErrNoTrustedKeys
	}
	if !p.signedByTrusted(h) {
		return ErrSignature
	}
	if m.Product != Product {
		return fmt.Errorf("%w: %q", ErrProduct, m.Product)
	}
	if dev := p.target(); !m.Target.Runs(dev) {
		return fmt.Errorf("%w: bundle %s, device %s", ErrTarget, m.Target, dev)
	}
	if m.Payload.Size > p.maxPayload() {
		return fmt.Errorf("%w: %d bytes, limit %d", ErrTooLarge, m.Payload.Size, p.maxPayload())
	}
	if now := p.now(); now.After(m.Expires) {
		return fmt.Errorf("%w: expired %s, now %s", ErrExpired, m.Expires.UTC().Format(time.RFC3339), now.UTC().Format(time.RFC3339))
	}
	return p.checkVersion(m)
}

func (p Policy) signedByTrusted(h *Header) bool {
	for _, k := range p.Keys {
		if len(k) == ed25519.PublicKeySize && ed25519.Verify(k, h.Raw, h.Signature) {
			return true
		}
	}
	return false
}

func (p Policy) checkVersion(m *Manifest) error {
	cur := runningVersion(p.Current)
	if m.MinVersion != "" {
		if c, _ := compareVersions(cur, m.MinVersion); c < 0 {
			return fmt.Errorf("%w: running %s, bundle needs at least %s", ErrMinVersion, cur, m.MinVersion)
		}
	}
	c, err := compareVersions(m.Version, cur)
	if err != nil {
		return fmt.Errorf("%w: %v", ErrMalformed, err)
	}
	if c <= 0 && !m.AllowDowngrade {
		return fmt.Errorf("%w: bundle %s, running %s (a downgrade needs allow_downgrade in the signed manifest)", ErrNotNewer, m.Version, cur)
	}
	return nil
}

func (p Policy) target() Target {
	if p.Target == (Target{}) {
		return Host()
	}
	return p.Target
}

func (p Policy) now() time.Time {
	if p.Now == nil {
		return time.Now()
	}
	return p.Now()
}

func (p Policy) maxPayload() int64 {
	if p.MaxPayload <= 0 {
		return DefaultMaxPayload
	}
	return p.MaxPayload
}

// CopyPayload streams the payload from r to w, hashing what it writes,
// and fails unless exactly the signed length with the signed hash arrived.
// It never reads more than one byte past the signed length. step, when
// not nil, is called after each chunk written.
func CopyPayload(w io.Writer, r io.Reader, m *Manifest, step func(n int64)) error {
	h := sha256.New()
	buf := make([]byte, 64<<10)
	var n int64
	lr := io.LimitReader(r, m.Payload.Size+1)
	for {
		k, err := lr.Read(buf)
		if k > 0 {
			if n+int64(k) > m.Payload.Size {
				return fmt.Errorf("%w: more than the %d bytes the manifest signs", ErrTrailing, m.Payload.Size)
			}
			h.Write(buf[:k])
			if _, werr := w.Write(buf[:k]); werr != nil {
				return fmt.Errorf("firmware: write payload: %w", werr)
			}
			n += int64(k)
			if step != nil {
				step(n)
			}
		}
		if err == io.EOF {
			break
		}
		if err != nil {
			return fmt.Errorf("firmware: reading payload: %w", err) // I/O, not a refusal
		}
	}
	var sum [32]byte
	h.Sum(sum[:0])
	return checkPayload(m, n, sum)
}
