package agent

import (
	"fmt"
	"math/rand/v2"
	"path/filepath"
	"testing"
	"time"

	"canary/buffer"
	"canary/config"
	"canary/drivers"
)

// analogScans makes scans of n gas detectors reading %LEL with two
// decimals and a little noise (1 in 500 samples bad/comm), or of n
// integer registers that count up.
type analogScans struct {
	rng    *rand.Rand
	values []float64
	buf    []drivers.Sample
	ints   bool
}

func newAnalogScans(n int, ints bool) *analogScans {
	s := &analogScans{rng: rand.New(rand.NewPCG(1, 2)), values: make([]float64, n), buf: make([]drivers.Sample, n), ints: ints}
	for i := range s.values {
		s.values[i] = s.rng.Float64() * 50
		s.buf[i].Point = fmt.Sprintf("GT-%04d", 1000+i)
	}
	return s
}

func (s *analogScans) scan(ts time.Time, k int) []drivers.Sample {
	for i := range s.buf {
		p := s.buf[i].Point
		switch {
		case s.ints:
			s.buf[i] = drivers.Sample{Point: p, TS: ts, Value: drivers.Uint(uint64(uint16(k + i)))}
		case s.rng.IntN(500) == 0:
			s.buf[i] = drivers.Sample{Point: p, TS: ts, Quality: drivers.Bad, Reason: drivers.ReasonComm}
		default:
			s.values[i] += s.rng.NormFloat64() * 0.05
			s.buf[i] = drivers.Sample{Point: p, TS: ts, Value: drivers.Float(float64(int64(s.values[i]*100)) / 100)}
		}
	}
	return s.buf
}

// BenchmarkOutboxBytesPerSample is the outbox's cost of one sample as the
// agent stores it (compact bodies, cut at maxDataBody): body bytes, what
// the budget charges (body + RecordOverhead per record) and the bbolt
// file's size, after scans at 1 s for an hour (ten minutes at 10,000
// points). The sizing rule in README.md and docs/outbox.md comes from it:
//
//	go test ./agent -run '^$' -bench OutboxBytesPerSample -benchtime 1x
func BenchmarkOutboxBytesPerSample(b *testing.B) {
	for _, c := range []struct {
		points int
		ints   bool
	}{{10, false}, {200, false}, {1000, false}, {10000, false}, {1000, true}} {
		kind := "analog"
		if c.ints {
			kind = "registers"
		}
		b.Run(fmt.Sprintf("%s/points=%d", kind, c.points), func(b *testing.B) {
			var body, charged, file, samples int64
			for b.Loop() {
				body, charged, file, samples = outboxHour(b, c.points, c.ints)
			}
			b.ReportMetric(0, "ns/op")
			b.ReportMetric(float64(body)/float64(samples), "body_bytes/sample")
			b.ReportMetric(float64(charged)/float64(samples), "budget_bytes/sample")
			b.ReportMetric(float64(file)/float64(samples), "file_bytes/sample")
		})
	}
}

func outboxHour(b *testing.B, points int, ints bool) (body, charged, file, samples int64) {
	box, err := buffer.OpenBolt(filepath.Join(b.TempDir(), "outbox.db"), buffer.Options{MaxBytes: 1 << 30})
	if err != nil {
		b.Fatal(err)
	}
	defer box.Close()
	sc := newAnalogScans(points, ints)
	seconds := 3600
	if points >= 10000 {
		seconds = 600
	}
	t0 := time.UnixMilli(1_764_388_800_000)
	var rb records
	for sec := 0; sec < seconds; sec++ {
		rb.reset()
		rb.data(drivers.Refs(sc.scan(t0.Add(time.Duration(sec)*time.Second), sec)), true, "mij3k2p0-9c1f03aa", t0)
		for _, r := range rb.recs {
			body += int64(len(r.Payload))
		}
		if _, err := box.Append(rb.recs); err != nil {
			b.Fatal(err)
		}
		samples += int64(points)
	}
	st := box.Stats()
	return body, st.Lanes[buffer.LaneData].Bytes + int64(st.Lanes[buffer.LaneData].Depth)*buffer.RecordOverhead, st.Bytes, samples
}

// BenchmarkScanPath is the agent's hot path per scan without I/O: the
// pipeline (report by exception, alarms on every sample) and the compact
// records of what it reports, for one device of 10,000 analog points
// whose values all change. order=config is a poll (samples in config
// order); order=shuffled is a notification (OPC UA: the gopcua server
// sends a subscription's changes in map order).
func BenchmarkScanPath(b *testing.B) {
	const points = 10000
	cfg := config.Default()
	cfg.Devices = []config.Device{{ID: "rack", Driver: "modbus"}}
	h := 40.0
	for i := range points {
		p := config.Point{ID: fmt.Sprintf("GT-%04d", 1000+i)}
		if i%10 == 0 {
			p.Alarms.H = &h
		}
		cfg.Devices[0].Points = append(cfg.Devices[0].Points, p)
	}
	perm := rand.New(rand.NewPCG(3, 4)).Perm(points)
	for _, c := range []struct {
		name     string
		shuffled bool
	}{{"order=config", false}, {"order=shuffled", true}} {
		b.Run(c.name, func(b *testing.B) {
			pipe := newPipeline(&cfg, &idGen{boot: "bench"})
			sc := newAnalogScans(points, false)
			notif := make([]drivers.Sample, points)
			t0 := time.UnixMilli(1_764_388_800_000)
			var rb records
			b.ReportAllocs()
			k := 0
			for b.Loop() {
				ts := t0.Add(time.Duration(k) * 100 * time.Millisecond)
				samples := sc.scan(ts, k)
				if c.shuffled {
					for j, i := range perm {
						notif[j] = samples[i]
					}
					samples = notif
				}
				scan := drivers.Scan{Device: "rack", At: ts, Samples: samples}
				out, _ := pipe.process(&scan, ts)
				rb.reset()
				rb.data(out, false, "bench", ts)
				k++
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*points), "ns/sample")
		})
	}
}
