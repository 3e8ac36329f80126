package firmware

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"os"
	"path/filepath"
	"testing"
	"time"
)

var (
	testPub, testKey = mustKey(1) // fixed seeds: crash children re-derive the same keys
	_, otherKey      = mustKey(2)
	testTarget       = Target{OS: "linux", Arch: "arm", ARM: 7}
	testNow          = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
)

func mustKey(seed byte) (ed25519.PublicKey, ed25519.PrivateKey) {
	priv := ed25519.NewKeyFromSeed(bytes.Repeat([]byte{seed}, ed25519.SeedSize))
	return priv.Public().(ed25519.PublicKey), priv
}

// manifest is a valid manifest for testTarget; edit it per case.
func manifest(version string) Manifest {
	return Manifest{Version: version, Target: testTarget,
		Created: testNow.Add(-time.Hour), Expires: testNow.Add(30 * 24 * time.Hour)}
}

// payloadFor is a recognisable payload for a version, over one copy chunk.
func payloadFor(version string) []byte {
	return bytes.Repeat([]byte("canary "+version+"\n"), 20000)
}

// bundle signs payload with key; the manifest's payload fields are filled
// in.
func bundle(t testing.TB, m Manifest, payload []byte, key ed25519.PrivateKey) []byte {
	t.Helper()
	p := filepath.Join(t.TempDir(), "payload")
	if err := os.WriteFile(p, payload, 0o644); err != nil {
		t.Fatal(err)
	}
	var b bytes.Buffer
	if _, err := Sign(&b, p, m, key); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

func testPolicy() Policy {
	return Policy{Keys: []ed25519.PublicKey{testPub}, Target: testTarget, Now: func() time.Time { return testNow }}
}

func installer(dir string) *Installer {
	return &Installer{Dir: dir, Policy: testPolicy(), BaseVersion: "0.9.0"}
}

// installed sets up dir with version committed in a slot.
func installed(t testing.TB, dir, version string) {
	t.Helper()
	b := bundle(t, manifest(version), payloadFor(version), testKey)
	if _, err := installer(dir).Install(context.Background(), bytes.NewReader(b)); err != nil {
		t.Fatal(err)
	}
	st, _ := store{dir}.load()
	if err := commit(dir, st.Active); err != nil {
		t.Fatal(err)
	}
}

// assertRunning checks the active version and that its binary is
// complete.
func assertRunning(t testing.TB, dir, version string) *State {
	t.Helper()
	st, err := store{dir}.load()
	if err != nil {
		t.Fatal(err)
	}
	if got := st.version(st.Active, "0.9.0"); got != version {
		t.Fatalf("active version %q, want %q (state %+v)", got, version, st)
	}
	if st.Active != SlotBase {
		b, err := os.ReadFile(store{dir}.binary(st.Active))
		if err != nil || !bytes.Equal(b, payloadFor(version)) {
			t.Fatalf("slot %s binary is not %s (err %v, %d bytes)", st.Active, version, err, len(b))
		}
	}
	return st
}
