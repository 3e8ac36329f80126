package buffer

import (
	"bytes"
	"errors"
	"testing"
	"time"
)

func TestCodecRoundTrip(t *testing.T) {
	for _, r := range []Record{
		{Boot: "b", Created: time.UnixMilli(1_700_000_000_123), Payload: []byte("payload")},
		{Boot: "", Created: time.UnixMilli(-5), Payload: nil},
		{Boot: string(make([]byte, maxBootLen)), Created: time.UnixMilli(0), Payload: []byte{0}},
	} {
		boot, created, p, err := decodeValue(encodeValue(r))
		if err != nil || boot != r.Boot || !created.Equal(r.Created) || !bytes.Equal(p, r.Payload) {
			t.Errorf("round trip of %+v: %q %v %q %v", r, boot, created, p, err)
		}
	}
}

func TestDecodeRejects(t *testing.T) {
	for name, v := range map[string][]byte{
		"empty":        nil,
		"version":      {2, 0, 0},
		"boot length":  {1, 9, 'a'},
		"huge boot":    {1, 0xff, 0xff, 0xff, 0xff, 0x0f},
		"no timestamp": {1, 0},
	} {
		if _, _, _, err := decodeValue(v); !errors.Is(err, ErrCorrupt) {
			t.Errorf("%s: err %v, want ErrCorrupt", name, err)
		}
	}
}

// FuzzDecodeRecord: whatever is in the file, the decoder returns an error
// or a value that encodes back to the same bytes; it never panics.
func FuzzDecodeRecord(f *testing.F) {
	f.Add(encodeValue(Record{Boot: "boot", Created: time.UnixMilli(42), Payload: []byte("x")}))
	f.Add([]byte{1, 0, 0})
	f.Add([]byte{1, 0x80})
	f.Fuzz(func(t *testing.T, v []byte) {
		boot, created, p, err := decodeValue(v)
		if err != nil {
			if !errors.Is(err, ErrCorrupt) {
				t.Fatalf("error %v does not wrap ErrCorrupt", err)
			}
			return
		}
		again := encodeValue(Record{Boot: boot, Created: created, Payload: p})
		if _, _, p2, err := decodeValue(again); err != nil || !bytes.Equal(p2, p) {
			t.Fatalf("re-encoding %x gave %x (%v)", v, again, err)
		}
	})
}
