package firmware

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"encoding/binary"
	"errors"
	"testing"
	"time"
)

// Every refusal leaves 1.0.0 running, its slot intact, and records a
// rejected event with the reason.
func TestInstallRefusals(t *testing.T) {
	good := manifest("2.0.0")
	payload := payloadFor("2.0.0")
	with := func(f func(*Manifest)) Manifest { m := good; f(&m); return m }
	signed := func(m Manifest) []byte { return bundle(t, m, payload, testKey) }
	cases := []struct {
		name   string
		bundle []byte
		policy func(*Policy)
		want   error
	}{
		{"no trusted keys", signed(good), func(p *Policy) { p.Keys = nil }, ErrNoTrustedKeys},
		{"signed by an untrusted key", bundle(t, good, payload, otherKey), nil, ErrSignature},
		{"manifest edited after signing", editManifest(signed(good), `"2.0.0"`, `"9.0.0"`), nil, ErrSignature},
		{"signature bytes flipped", flipSignature(signed(good)), nil, ErrSignature},
		{"wrong arch", signed(with(func(m *Manifest) { m.Target = Target{OS: "linux", Arch: "arm64"} })), nil, ErrTarget},
		{"newer arm variant than the device", signed(good), func(p *Policy) { p.Target.ARM = 6 }, ErrTarget},
		{"wrong os", signed(with(func(m *Manifest) { m.Target.OS = "windows" })), nil, ErrTarget},
		{"truncated payload", signed(good)[:len(signed(good))-100], nil, ErrTruncated},
		{"data after the payload", append(signed(good), 'x'), nil, ErrTrailing},
		{"payload over the limit", signed(good), func(p *Policy) { p.MaxPayload = int64(len(payload)) - 1 }, ErrTooLarge},
		{"payload byte changed", flipLast(signed(good)), nil, ErrHash},
		{"expired", signed(with(func(m *Manifest) { m.Expires = testNow.Add(-time.Minute) })), nil, ErrExpired},
		{"same version", signed(with(func(m *Manifest) { m.Version = "1.0.0" })), nil, ErrNotNewer},
		{"older version", signed(with(func(m *Manifest) { m.Version = "0.9.9" })), nil, ErrNotNewer},
		{"pre-release of the running version", signed(with(func(m *Manifest) { m.Version = "1.0.0-rc.1" })), nil, ErrNotNewer},
		{"running version below min_version", signed(with(func(m *Manifest) { m.MinVersion = "1.5.0" })), nil, ErrMinVersion},
		{"not a bundle", []byte("#!/bin/sh\nrm -rf /\n"), nil, ErrMalformed},
		{"empty", nil, nil, ErrMalformed},
		{"other product", resign(signed(good), `"canary"`, `"other"`), nil, ErrProduct},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			dir := t.TempDir()
			installed(t, dir, "1.0.0")
			in := installer(dir)
			if c.policy != nil {
				c.policy(&in.Policy)
			}
			var events []Event
			in.Notify = func(e Event) { events = append(events, e) }
			_, err := in.Install(context.Background(), bytes.NewReader(c.bundle))
			var rej *RejectError
			if !errors.As(err, &rej) || (c.want != nil && !errors.Is(err, c.want)) {
				t.Fatalf("err = %v, want a rejection wrapping %v", err, c.want)
			}
			t.Log(err)
			st := assertRunning(t, dir, "1.0.0")
			if st.Trial {
				t.Fatal("a refusal started a trial")
			}
			if len(events) != 1 || events[0].Kind != Rejected || events[0].Reason == "" {
				t.Fatalf("events %+v, want one rejected with a reason", events)
			}
			if last := st.Events[len(st.Events)-1]; last.Kind != Rejected {
				t.Fatalf("state's last event %+v, want rejected", last)
			}
		})
	}
}

func TestInstallDowngradeNeedsSignedPermission(t *testing.T) {
	dir := t.TempDir()
	installed(t, dir, "2.0.0")
	m := manifest("1.0.0")
	m.AllowDowngrade = true
	if _, err := installer(dir).Install(context.Background(), bytes.NewReader(bundle(t, m, payloadFor("1.0.0"), testKey))); err != nil {
		t.Fatal(err)
	}
	st := assertRunning(t, dir, "1.0.0")
	if !st.Trial || st.Previous == "" {
		t.Fatalf("downgrade should start a trial with a way back: %+v", st)
	}
}

func TestInstallRefusedDuringTrial(t *testing.T) {
	dir := t.TempDir()
	installed(t, dir, "1.0.0")
	in := installer(dir)
	if _, err := in.Install(context.Background(), bytes.NewReader(bundle(t, manifest("2.0.0"), payloadFor("2.0.0"), testKey))); err != nil {
		t.Fatal(err)
	}
	_, err := in.Install(context.Background(), bytes.NewReader(bundle(t, manifest("3.0.0"), payloadFor("3.0.0"), testKey)))
	if !errors.Is(err, ErrBusy) {
		t.Fatalf("err = %v, want ErrBusy", err)
	}
	st := assertRunning(t, dir, "2.0.0")
	if prev := st.version(st.Previous, "0.9.0"); prev != "1.0.0" {
		t.Fatalf("the way back is %q, want 1.0.0", prev)
	}
}

func TestLoadTrustedKeysFailsClosed(t *testing.T) {
	dir := t.TempDir()
	for name, content := range map[string]string{"missing": "", "empty": "# no keys yet\n\n"} {
		path := dir + "/" + name
		if content != "" {
			writeFile(t, path, content)
		}
		if _, err := LoadTrustedKeys(path); !errors.Is(err, ErrNoTrustedKeys) {
			t.Errorf("%s: err = %v, want ErrNoTrustedKeys", name, err)
		}
	}
	writeFile(t, dir+"/ok", "# release key\n"+FormatPublicKey(testPub)+"  # 2026\n")
	keys, err := LoadTrustedKeys(dir + "/ok")
	if err != nil || len(keys) != 1 || !keys[0].Equal(testPub) {
		t.Fatalf("keys %v, err %v", keys, err)
	}
	writeFile(t, dir+"/bad", "ed25519:AAAA\n")
	if _, err := LoadTrustedKeys(dir + "/bad"); err == nil {
		t.Fatal("a short key was accepted")
	}
}

func editManifest(b []byte, from, to string) []byte {
	out := bytes.Replace(bytes.Clone(b), []byte(from), []byte(to), 1)
	n := binary.BigEndian.Uint32(out[len(Magic):])
	binary.BigEndian.PutUint32(out[len(Magic):], n+uint32(len(to)-len(from)))
	return out
}

// resign edits the manifest and signs it again with the trusted key.
func resign(b []byte, from, to string) []byte {
	out := editManifest(b, from, to)
	n := int(binary.BigEndian.Uint32(out[len(Magic):]))
	copy(out[headerFixed+n:], ed25519.Sign(testKey, out[headerFixed:headerFixed+n]))
	return out
}

func flipSignature(b []byte) []byte {
	out := bytes.Clone(b)
	n := int(binary.BigEndian.Uint32(out[len(Magic):]))
	out[headerFixed+n+ed25519.SignatureSize/2] ^= 1
	return out
}

func flipLast(b []byte) []byte {
	out := bytes.Clone(b)
	out[len(out)-1] ^= 0xff
	return out
}
