package firmware

import (
	"bytes"
	"testing"
)

// FuzzParseBundle: no input panics the parser, and whatever it accepts
// has a payload of exactly the signed length and hash, and does not pass
// the policy unless signed by the trusted key.
func FuzzParseBundle(f *testing.F) {
	good := bundle(f, manifest("1.2.3"), []byte("tiny payload"), testKey)
	f.Add(good)
	f.Add(good[:headerFixed+10])
	f.Add(append(bytes.Clone(good), 0))
	f.Add([]byte(Magic + "\x00\x00\x00\x02{}"))
	f.Add([]byte(Magic + "\xff\xff\xff\xff"))
	f.Fuzz(func(t *testing.T, b []byte) {
		h, payload, err := ParseBundle(b)
		if err != nil {
			return
		}
		if int64(len(payload)) != h.Manifest.Payload.Size {
			t.Fatalf("accepted %d payload bytes, manifest says %d", len(payload), h.Manifest.Payload.Size)
		}
		if err := testPolicy().Check(h); err == nil && !bytes.Equal(b, good) {
			t.Fatalf("policy accepted a bundle that is not the signed one")
		}
	})
}
