package buffer

import (
	"bytes"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"
)

func TestCodecRoundTrip(t *testing.T) {
	json := []byte(`"historical":false,"samples":[{"point":"GT-101","ts":1764388800123,"value":12.5,"quality":"good"},` +
		`{"point":"GT-102","ts":1764388800123,"value":3,"quality":"good"}]`)
	for _, compressed := range []bool{false, true} {
		for _, r := range []Record{
			{Boot: "b", Created: time.UnixMilli(1_700_000_000_123), Payload: []byte("payload")},
			{Boot: "", Created: time.UnixMilli(-5), Payload: nil},
			{Boot: string(make([]byte, maxBootLen)), Created: time.UnixMilli(0), Payload: []byte{0}},
			{Boot: "b", Created: time.UnixMilli(7), Payload: json},
		} {
			s := compress(r.Payload, compressed)
			d, err := decodeValue(encodeValue(r, s))
			if err != nil {
				t.Fatal(err)
			}
			got, err := d.record(LaneData, 1)
			if err != nil || got.Boot != r.Boot || !got.Created.Equal(r.Created) || !bytes.Equal(got.Payload, r.Payload) {
				t.Errorf("round trip of %+v: %+v %v", r, got, err)
			}
		}
	}
	if s := compress(json, true); s.flags != flagDeflate || len(s.body) >= len(json)/2 {
		t.Errorf("a JSON body of %d bytes compressed to %d (flags %d)", len(json), len(s.body), s.flags)
	}
}

// Version 1 values (no flags byte) written by an older agent still read.
func TestCodecReadsV1(t *testing.T) {
	v := []byte{1, 1, 'b', 14, 'h', 'i'} // boot "b", created 7 ms, payload "hi"
	d, err := decodeValue(v)
	if err != nil || d.boot != "b" || d.created.UnixMilli() != 7 || string(d.body) != "hi" || d.flags != 0 {
		t.Errorf("v1 value: %+v %v", d, err)
	}
}

func TestDecodeRejects(t *testing.T) {
	for name, v := range map[string][]byte{
		"empty":        nil,
		"version":      {3, 0, 0},
		"flags":        {2, 0x80, 0, 0},
		"boot length":  {1, 9, 'a'},
		"huge boot":    {1, 0xff, 0xff, 0xff, 0xff, 0x0f},
		"no timestamp": {1, 0},
	} {
		if _, err := decodeValue(v); !errors.Is(err, ErrCorrupt) {
			t.Errorf("%s: err %v, want ErrCorrupt", name, err)
		}
	}
	d, err := decodeValue([]byte{2, flagDeflate, 0, 0, 0xff, 0xff})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := d.payload(); !errors.Is(err, ErrCorrupt) {
		t.Errorf("bad deflate stream: %v, want ErrCorrupt", err)
	}
}

// FuzzDecodeRecord: whatever is in the file, the decoder returns an error
// or a value that encodes back to the same bytes; it never panics.
func FuzzDecodeRecord(f *testing.F) {
	f.Add(encodeValue(Record{Boot: "boot", Created: time.UnixMilli(42), Payload: []byte("x")}, stored{body: []byte("x")}))
	f.Add(encodeValue(Record{Boot: "b"}, compress([]byte(strings.Repeat(`{"point":"a","quality":"good"}`, 4)), true)))
	f.Add([]byte{1, 0, 0})
	f.Add([]byte{1, 0x80})
	f.Fuzz(func(t *testing.T, v []byte) {
		d, err := decodeValue(v)
		if err != nil {
			if !errors.Is(err, ErrCorrupt) {
				t.Fatalf("error %v does not wrap ErrCorrupt", err)
			}
			return
		}
		if _, err := d.payload(); err != nil && !errors.Is(err, ErrCorrupt) {
			t.Fatalf("payload error %v does not wrap ErrCorrupt", err)
		}
		again := encodeValue(Record{Boot: d.boot, Created: d.created}, d.stored)
		if d2, err := decodeValue(again); err != nil || !bytes.Equal(d2.body, d.body) || d2.flags != d.flags {
			t.Fatalf("re-encoding %x gave %x (%v)", v, again, err)
		}
	})
}

func BenchmarkCompress(b *testing.B) {
	var p []byte
	p = append(p, `"historical":false,"samples":[`...)
	for i := range 200 {
		if i > 0 {
			p = append(p, ',')
		}
		p = fmt.Appendf(p, `{"point":"GT-%03d","ts":1764388800123,"value":%d.%d,"quality":"good"}`, i, i%50, i%10)
	}
	p = append(p, ']')
	b.SetBytes(int64(len(p)))
	var n int
	for b.Loop() {
		n = len(compress(p, true).body)
	}
	b.ReportMetric(float64(n)/200, "stored_bytes/sample")
}
