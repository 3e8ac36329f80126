package firmware

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"runtime"
	"runtime/debug"
	"strconv"
	"time"
)

// Product is the only product a bundle may name.
const Product = "canary"

// ManifestFormat is the manifest format this package writes and reads.
const ManifestFormat = 1

// Manifest describes a payload. It is signed byte for byte as it sits in
// the bundle; its JSON is strict (unknown fields and trailing data are
// errors) so what was signed is what is read.
type Manifest struct {
	Format         int       `json:"format"`
	Product        string    `json:"product"`
	Version        string    `json:"version"` // semver of the payload
	Target         Target    `json:"target"`
	Payload        Payload   `json:"payload"`
	MinVersion     string    `json:"min_version,omitempty"` // oldest running version it may replace
	AllowDowngrade bool      `json:"allow_downgrade,omitempty"`
	Created        time.Time `json:"created"`
	Expires        time.Time `json:"expires"`
}

// Target is the platform a payload runs on.
type Target struct {
	OS   string `json:"os"`
	Arch string `json:"arch"`
	ARM  int    `json:"arm,omitempty"` // GOARM (5, 6, 7) for arch "arm", else 0
}

// Payload is the identity of the payload bytes.
type Payload struct {
	SHA256 string `json:"sha256"` // lowercase hex
	Size   int64  `json:"size"`
}

func (t Target) String() string {
	if t.Arch == "arm" {
		return fmt.Sprintf("%s/armv%d", t.OS, t.ARM)
	}
	return t.OS + "/" + t.Arch
}

// Runs reports whether a payload built for t runs on device d: same OS and
// architecture, and for 32-bit ARM an instruction set no newer than the
// device's (an armv6 payload runs on armv7, not the reverse).
func (t Target) Runs(d Target) bool {
	return t.OS == d.OS && t.Arch == d.Arch && t.ARM <= d.ARM
}

// Host is the target of the running binary, GOARM included.
func Host() Target {
	t := Target{OS: runtime.GOOS, Arch: runtime.GOARCH}
	if t.Arch != "arm" {
		return t
	}
	t.ARM = 7 // the documented minimum of a Canary gateway
	if bi, ok := debug.ReadBuildInfo(); ok {
		for _, s := range bi.Settings {
			if s.Key == "GOARM" {
				if n, err := strconv.Atoi(s.Value[:1]); err == nil {
					t.ARM = n
				}
			}
		}
	}
	return t
}

// parseManifest decodes and checks the manifest's own consistency;
// whether it fits this device is Policy's business.
func parseManifest(raw []byte) (*Manifest, error) {
	var m Manifest
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&m); err != nil {
		return nil, fmt.Errorf("%w: manifest: %v", ErrMalformed, err)
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, fmt.Errorf("%w: manifest: trailing data", ErrMalformed)
	}
	if err := m.validate(); err != nil {
		return nil, fmt.Errorf("%w: manifest: %v", ErrMalformed, err)
	}
	return &m, nil
}

func (m *Manifest) validate() error {
	switch {
	case m.Format != ManifestFormat:
		return fmt.Errorf("format %d, want %d", m.Format, ManifestFormat)
	case m.Target.OS == "" || m.Target.Arch == "":
		return fmt.Errorf("target: os and arch required")
	case (m.Target.Arch == "arm") != (m.Target.ARM != 0):
		return fmt.Errorf("target: arm variant is required for arch arm and only there")
	case m.Payload.Size <= 0:
		return fmt.Errorf("payload.size %d", m.Payload.Size)
	case m.Created.IsZero() || m.Expires.IsZero():
		return fmt.Errorf("created and expires required")
	case !m.Expires.After(m.Created):
		return fmt.Errorf("expires %s is not after created %s", m.Expires.Format(time.RFC3339), m.Created.Format(time.RFC3339))
	}
	if b, err := hex.DecodeString(m.Payload.SHA256); err != nil || len(b) != 32 || hex.EncodeToString(b) != m.Payload.SHA256 {
		return fmt.Errorf("payload.sha256 %q: want 64 lowercase hex digits", m.Payload.SHA256)
	}
	if _, err := parseSemver(m.Version); err != nil {
		return err
	}
	if m.MinVersion != "" {
		if _, err := parseSemver(m.MinVersion); err != nil {
			return fmt.Errorf("min_version: %v", err)
		}
	}
	return nil
}
