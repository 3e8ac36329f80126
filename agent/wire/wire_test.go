package wire

import (
	"bytes"
	"encoding/json"
	"math"
	"testing"
	"time"

	"canary/drivers"
)

// A framed message is valid JSON with the envelope in order and the body
// unchanged, whatever the names contain.
func TestFrameIsValidJSON(t *testing.T) {
	f := NewFramer(`site "1"`, "网关-01\n")
	ts := time.UnixMilli(1764388800123)
	samples := []drivers.Sample{
		{Point: "GT-101", TS: ts, Value: drivers.Float(12.5)},
		{Point: "GT-102", TS: ts, Quality: drivers.Bad, Reason: drivers.ReasonComm},
		{Point: "NaN", TS: ts, Value: drivers.Float(math.NaN()), Quality: drivers.Bad, Reason: drivers.ReasonOutOfRange},
		{Point: "tag\x00", TS: ts, Value: drivers.String("a\"b\x01")},
		{Point: "big", TS: ts, Value: drivers.Uint(math.MaxUint64)},
		{Point: "flag", TS: ts, Value: drivers.Bool(true)},
	}
	msg := f.Frame(nil, "boot-1", 42, AppendSamples(nil, true, samples))
	m, err := Decode(msg)
	if err != nil {
		t.Fatalf("not JSON: %v\n%s", err, msg)
	}
	if m.Schema != Schema || m.Site != `site "1"` || m.Gateway != "网关-01\n" || m.Boot != "boot-1" || m.Seq != 42 || !m.Historical {
		t.Errorf("envelope %+v", m.Envelope)
	}
	if len(m.Samples) != len(samples) {
		t.Fatalf("%d samples, want %d", len(m.Samples), len(samples))
	}
	if m.Samples[0].Value != 12.5 || m.Samples[0].TS != 1764388800123 || m.Samples[0].Quality != "good" {
		t.Errorf("sample 0: %+v", m.Samples[0])
	}
	if m.Samples[1].Value != nil || m.Samples[1].Reason != "comm" {
		t.Errorf("a bad sample must carry null and its reason: %+v", m.Samples[1])
	}
	if m.Samples[2].Value != nil {
		t.Errorf("NaN must be null: %+v", m.Samples[2])
	}
	if m.Samples[3].Point != "tag\x00" || m.Samples[3].Value != "a\"b\x01" {
		t.Errorf("escaping: %+v", m.Samples[3])
	}
	var raw struct {
		Samples []map[string]any `json:"samples"`
	}
	dec := json.NewDecoder(bytes.NewReader(msg))
	dec.UseNumber()
	err = dec.Decode(&raw)
	if err != nil || len(raw.Samples) != len(samples) || raw.Samples[4]["value"] != json.Number("18446744073709551615") {
		t.Errorf("uint64 must be exact: %v %v", raw.Samples, err)
	}
}

func TestEventsBody(t *testing.T) {
	v, l := 52.1, 50.0
	body := AppendEvents(nil, false, []Event{{ID: "b-1", TS: 5, Type: TypeAlarm, Point: "GT-101", State: "active", Level: "hh", Value: &v, Limit: &l}})
	m, err := Decode(NewFramer("s", "g").Frame(nil, "b", 1, body))
	if err != nil || len(m.Events) != 1 || m.Historical {
		t.Fatalf("%v %+v", err, m)
	}
	e := m.Events[0]
	if e.Type != "alarm" || *e.Value != 52.1 || *e.Limit != 50 || e.Level != "hh" {
		t.Errorf("event %+v", e)
	}
}

func TestTopics(t *testing.T) {
	tp := NewTopics("canary", "yc-chem-01", "gw-01")
	if tp.Data != "canary/yc-chem-01/gw-01/data" || tp.Status != "canary/yc-chem-01/gw-01/status" || tp.CmdReply != "canary/yc-chem-01/gw-01/cmd/reply" {
		t.Errorf("%+v", tp)
	}
}

func BenchmarkAppendSamples(b *testing.B) {
	ts := time.UnixMilli(1764388800123)
	samples := make([]drivers.Sample, 100)
	for i := range samples {
		samples[i] = drivers.Sample{Point: "GT-101", TS: ts, Value: drivers.Float(float64(i) + 0.5)}
	}
	buf := make([]byte, 0, 16<<10)
	b.ReportAllocs()
	for b.Loop() {
		buf = AppendSamples(buf[:0], false, samples)
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*len(samples)), "ns/sample")
}
