package wire

import (
	"bytes"
	"encoding/json"
	"math"
	"math/rand/v2"
	"strconv"
	"testing"
	"time"

	"canary/drivers"
)

// compactJSON encodes samples compactly and decodes them back to JSON.
func compactJSON(t testing.TB, historical bool, samples []drivers.Sample) ([]byte, []byte) {
	t.Helper()
	var e DataEncoder
	e.Reset(historical)
	for i := range samples {
		e.Add(&samples[i])
	}
	if e.Samples() != len(samples) {
		t.Fatalf("encoder counts %d samples, want %d", e.Samples(), len(samples))
	}
	out, err := AppendBody(nil, e.Body())
	if err != nil {
		t.Fatalf("decode: %v", err)
	}
	return e.Body(), out
}

// The JSON made from a compact body says the same as the JSON body the
// samples would have had: same points, times, qualities, reasons, and
// numbers that parse to the same float64 (or the same integer, exactly).
func TestCompactBodyMatchesJSONBody(t *testing.T) {
	ts := time.UnixMilli(1764388800123)
	samples := []drivers.Sample{
		{Point: "GT-101", TS: ts, Value: drivers.Float(12.5)},
		{Point: "GT-102", TS: ts, Value: drivers.Float(0.1 + 0.2)},
		{Point: "GT-102.fault", TS: ts.Add(3 * time.Millisecond), Value: drivers.Bool(true)},
		{Point: "GT-103", TS: ts.Add(-time.Second), Quality: drivers.Bad, Reason: drivers.ReasonComm},
		{Point: "GT-104", TS: ts, Value: drivers.Float(23.4), Quality: drivers.Uncertain, Reason: drivers.ReasonMaintenance},
		{Point: "GT-105", TS: ts, Value: drivers.Float(math.NaN()), Quality: drivers.Bad, Reason: drivers.Reason(200)}, // outside the set: spelled out
		{Point: "气体-1号", TS: ts, Value: drivers.String("a\"b\x01漢")},
		{Point: "big", TS: ts, Value: drivers.Uint(math.MaxUint64)},
		{Point: "neg", TS: ts, Value: drivers.Int(math.MinInt64)},
		{Point: "a-very-long-point-identifier-with-a-shared-prefix-0001", TS: ts, Value: drivers.Float(-1.5e-12)},
		{Point: "a-very-long-point-identifier-with-a-shared-prefix-0002", TS: ts, Value: drivers.Float(6.02214076e23)},
		{Point: "", TS: time.UnixMilli(0), Value: drivers.Bool(false)},
		{Point: "tiny", TS: ts, Value: drivers.Float(math.SmallestNonzeroFloat64)},
		{Point: "max", TS: ts, Value: drivers.Float(math.MaxFloat64)},
		{Point: "int-float", TS: ts, Value: drivers.Float(1e6)},
		{Point: "none", TS: ts, Quality: drivers.Bad, Reason: drivers.ReasonSensorFault},
		// ids that follow each other, or only look as if they did
		{Point: "P0099", TS: ts, Value: drivers.Int(1)}, {Point: "P0100", TS: ts, Value: drivers.Int(2)},
		{Point: "9", TS: ts, Value: drivers.Int(3)}, {Point: "10", TS: ts, Value: drivers.Int(4)},
		{Point: "A9", TS: ts, Value: drivers.Int(5)}, {Point: "B0", TS: ts, Value: drivers.Int(6)},
		{Point: "x-8", TS: ts, Value: drivers.Int(7)}, {Point: "x-9", TS: ts, Value: drivers.Int(8)},
	}
	for _, hist := range []bool{false, true} {
		_, got := compactJSON(t, hist, samples)
		want := AppendSamples(nil, hist, samples)
		if !json.Valid(append(append([]byte{'{'}, got...), '}')) {
			t.Fatalf("not JSON: %s", got)
		}
		g, w := decodeBody(t, got), decodeBody(t, want)
		if g.Historical != w.Historical || len(g.Samples) != len(w.Samples) {
			t.Fatalf("got %+v\nwant %+v", g, w)
		}
		for i := range w.Samples {
			gs, ws := g.Samples[i], w.Samples[i]
			if gs.Point != ws.Point || gs.TS != ws.TS || gs.Quality != ws.Quality || gs.Reason != ws.Reason ||
				string(gs.Value) != string(ws.Value) && !sameNumber(gs.Value, ws.Value) {
				t.Errorf("sample %d: got %+v (%s), want %+v (%s)", i, gs, gs.Value, ws, ws.Value)
			}
		}
	}
}

type rawBody struct {
	Historical bool `json:"historical"`
	Samples    []struct {
		Point   string          `json:"point"`
		TS      int64           `json:"ts"`
		Value   json.RawMessage `json:"value"`
		Quality string          `json:"quality"`
		Reason  string          `json:"reason"`
	} `json:"samples"`
}

func decodeBody(t *testing.T, body []byte) rawBody {
	t.Helper()
	var b rawBody
	if err := json.Unmarshal(append(append([]byte{'{'}, body...), '}'), &b); err != nil {
		t.Fatalf("%v: %s", err, body)
	}
	return b
}

// sameNumber: two JSON numbers that parse to the same float64 (the
// integers above are compared as text, exactly).
func sameNumber(a, b json.RawMessage) bool {
	x, err1 := strconv.ParseFloat(string(a), 64)
	y, err2 := strconv.ParseFloat(string(b), 64)
	return err1 == nil && err2 == nil && x == y
}

// Every finite float64 comes back bit for bit (but -0, which is 0): the
// fast paths must never pick a decimal that reads back as a neighbour.
func TestCompactFloatsRoundTrip(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	check := func(f float64) {
		t.Helper()
		_, body := compactJSON(t, false, []drivers.Sample{{Point: "p", Value: drivers.Float(f)}})
		b := decodeBody(t, body)
		got, err := strconv.ParseFloat(string(b.Samples[0].Value), 64)
		if err != nil || got != f {
			t.Fatalf("%v (%x): JSON %s reads back as %v (%v)", f, math.Float64bits(f), b.Samples[0].Value, got, err)
		}
	}
	for i := range 200000 {
		switch i % 5 {
		case 0: // raw bits: any float
			f := math.Float64frombits(r.Uint64())
			if !math.IsNaN(f) && !math.IsInf(f, 0) {
				check(f)
			}
		case 1: // registers scaled as the Modbus driver does
			check(float64(r.IntN(65536)) * []float64{0.1, 0.01, 0.001, 0.5, 1.0 / 3}[r.IntN(5)])
		case 2: // float32 registers
			check(float64(math.Float32frombits(r.Uint32() & 0x7f7fffff)))
		case 3: // short decimals
			check(float64(r.IntN(2000001)-1000000) / pow10[r.IntN(7)])
		default: // 4-20 mA style linear ranges
			check((float64(r.IntN(16001)) - 4000) * 100 / 16000)
		}
	}
}

// The compact body is small: the point of keeping it.
func TestCompactBodySize(t *testing.T) {
	ts := time.UnixMilli(1764388800123)
	samples := make([]drivers.Sample, 1000)
	for i := range samples {
		samples[i] = drivers.Sample{Point: "GT-" + strconv.Itoa(1000+i), TS: ts, Value: drivers.Float(float64(i%400) / 10)}
	}
	body, js := compactJSON(t, false, samples)
	per := float64(len(body)) / float64(len(samples))
	if per > 4.5 {
		t.Errorf("%.2f bytes per steady analog sample (JSON %.1f), want at most 4.5", per, float64(len(js))/float64(len(samples)))
	}
}

// Damaged bodies are refused with ErrBadBody, never a panic, never a
// sample made up from the wrong bytes past the damage.
func TestCompactBodyDamage(t *testing.T) {
	ts := time.UnixMilli(1764388800123)
	body, _ := compactJSON(t, false, []drivers.Sample{
		{Point: "GT-101", TS: ts, Value: drivers.Float(12.5)},
		{Point: "GT-102", TS: ts, Value: drivers.String("x")},
	})
	for n := 1; n < len(body); n++ {
		if _, err := AppendBody(nil, body[:n]); n > 1 && err == nil && n != len(body) {
			// a cut exactly between samples is a shorter valid body
			if !bytes.HasPrefix(body, body[:n]) {
				t.Errorf("cut at %d accepted", n)
			}
		}
	}
	bad := append([]byte(nil), body...)
	bad[2] |= headReserved
	if _, err := AppendBody(nil, bad); err == nil {
		t.Error("reserved head bit accepted")
	}
	if _, err := AppendBody(nil, []byte{compactMagic, 2}); err == nil {
		t.Error("unknown flags accepted")
	}
}

func FuzzCompactBody(f *testing.F) {
	ts := time.UnixMilli(1764388800123)
	body, _ := compactJSON(f, true, []drivers.Sample{
		{Point: "GT-101", TS: ts, Value: drivers.Float(12.5)},
		{Point: "GT-102", TS: ts, Quality: drivers.Bad, Reason: drivers.ReasonComm},
		{Point: "GT-103", TS: ts, Value: drivers.String("x"), Quality: drivers.Bad, Reason: drivers.Reason(99)}, // spelled out
	})
	f.Add(body)
	f.Add([]byte{compactMagic, 0, 0xF0, 0x80})
	f.Fuzz(func(t *testing.T, b []byte) {
		out, err := AppendBody(nil, b)
		if err != nil || !IsCompact(b) {
			return
		}
		if !json.Valid(append(append([]byte{'{'}, out...), '}')) {
			t.Fatalf("accepted body gives invalid JSON: %q → %s", b, out)
		}
	})
}

func BenchmarkCompactEncode(b *testing.B) {
	samples := benchSamples()
	var e DataEncoder
	b.ReportAllocs()
	for b.Loop() {
		e.Reset(false)
		for i := range samples {
			e.Add(&samples[i])
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*len(samples)), "ns/sample")
	b.ReportMetric(float64(e.Len())/float64(len(samples)), "bytes/sample")
}

func BenchmarkCompactToJSON(b *testing.B) {
	samples := benchSamples()
	var e DataEncoder
	e.Reset(false)
	for i := range samples {
		e.Add(&samples[i])
	}
	buf := make([]byte, 0, 64<<10)
	b.ReportAllocs()
	for b.Loop() {
		buf, _ = AppendBody(buf[:0], e.Body())
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*len(samples)), "ns/sample")
}

// benchSamples: 250 analog points of one scan, values with one decimal.
func benchSamples() []drivers.Sample {
	ts := time.UnixMilli(1764388800123)
	samples := make([]drivers.Sample, 250)
	for i := range samples {
		samples[i] = drivers.Sample{Point: "GT-" + strconv.Itoa(1000+i), TS: ts, Value: drivers.Float(float64(i*7%500) / 10)}
	}
	return samples
}

// Split cuts a scan into bodies that each end at the first sample
// reaching the limit, and together hold every sample once, in order.
func TestCompactSplit(t *testing.T) {
	samples := benchSamples()
	var e DataEncoder
	var bodies [][]byte
	e.Split(drivers.Refs(samples), true, 200, func(b []byte) { bodies = append(bodies, append([]byte(nil), b...)) })
	if len(bodies) < 3 {
		t.Fatalf("%d bodies for %d samples at 200 bytes", len(bodies), len(samples))
	}
	var got []json.RawMessage
	for i, b := range bodies {
		if len(b) >= 200+40 || i < len(bodies)-1 && len(b) < 200 {
			t.Errorf("body %d is %d bytes: cut at the first sample reaching 200", i, len(b))
		}
		js, err := AppendBody(nil, b)
		if err != nil {
			t.Fatal(err)
		}
		body := decodeBody(t, js)
		if !body.Historical {
			t.Error("historical flag lost")
		}
		for _, s := range body.Samples {
			got = append(got, json.RawMessage(s.Point))
		}
	}
	if len(got) != len(samples) {
		t.Fatalf("%d samples in the bodies, want %d", len(got), len(samples))
	}
	for i := range samples {
		if string(got[i]) != samples[i].Point {
			t.Fatalf("sample %d is %s, want %s", i, got[i], samples[i].Point)
		}
	}
	e.Split(nil, false, 200, func([]byte) { t.Error("a body for no samples") })
}
