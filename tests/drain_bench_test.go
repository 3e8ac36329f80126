package tests

import (
	"bytes"
	"fmt"
	"os"
	"slices"
	"sync"
	"testing"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"

	"canary/agent/wire"
	"canary/buffer"
	"canary/drivers"
	"canary/drivers/modbus/modbustest"
	"canary/drivers/mqtt/mqtttest"
	"canary/tests/harness"
)

// BenchmarkDrainToMosquittoLiveFirst: the real binary starts on an outbox
// holding a backlog of 30,000 scans of 200 points (an 8.3-hour outage at
// 200 points/s) with a real Mosquitto up, while it scans 200 live points
// every second from a Modbus server. It reports the drain rate seen by a
// subscriber and the live data's latency (sample time to arrival) during
// the drain. Run with -benchtime=1x; BACKFILL_RATE overrides the rate
// (default 100000/s, i.e. as fast as the link allows).
func BenchmarkDrainToMosquittoLiveFirst(b *testing.B) {
	const backlog, points = 30_000, 200
	rate := "100000/s"
	if r := os.Getenv("BACKFILL_RATE"); r != "" {
		rate = r
	}
	bin := harness.Binary(b)
	broker := mqtttest.StartMosquitto(b)
	srv := modbustest.Start(b)
	stop := harness.CountUp(srv, points, 50*time.Millisecond)
	defer stop()
	rack := harness.Rack{Dir: b.TempDir(), ModbusAddr: srv.Addr(), BrokerURL: broker.URL(), Points: points, Interval: time.Second,
		MQTT: "max_inflight: 256"}
	cfgPath := rack.WriteConfig(b)
	cfg, _ := os.ReadFile(cfgPath)
	cfg = bytes.Replace(cfg, []byte("max_bytes: 256MiB}"), []byte("max_bytes: 256MiB, backfill_rate: "+rate+"}"), 1)
	os.WriteFile(cfgPath, cfg, 0o600)
	records := prefill(b, rack.OutboxPath(), backlog, points)

	sub := subscribe(b, broker.URL())
	for b.Loop() {
		a := harness.StartAgent(b, bin, cfgPath)
		deadline := time.Now().Add(3 * time.Minute)
		for sub.historical() < records && time.Now().Before(deadline) {
			time.Sleep(50 * time.Millisecond)
		}
		a.Stop(20 * time.Second)
	}
	first, last, n, lat := sub.result()
	if n < records {
		b.Fatalf("only %d of %d backlog records arrived", n, records)
	}
	d := last.Sub(first).Seconds()
	slices.Sort(lat)
	b.ReportMetric(float64(n)/d, "backlog_records/s")
	b.ReportMetric(float64(backlog*points)/d, "backlog_samples/s")
	if len(lat) > 0 {
		b.ReportMetric(float64(lat[len(lat)/2].Milliseconds()), "live_p50_ms")
		b.ReportMetric(float64(lat[len(lat)-1].Milliseconds()), "live_max_ms")
		b.ReportMetric(float64(len(lat)), "live_records")
	}
}

// prefill writes the backlog as the agent would have during an outage:
// compressed, flagged historical, seqs from 1.
func prefill(b *testing.B, path string, n, points int) (records int) {
	box, err := buffer.OpenBolt(path, buffer.Options{MaxBytes: 256 << 20, Boot: "before"})
	if err != nil {
		b.Fatal(err)
	}
	defer box.Close()
	t0 := time.Now().Add(-time.Duration(n) * time.Second)
	samples := make([]drivers.Sample, points)
	var enc wire.DataEncoder
	for i := 0; i < n; i += 100 {
		recs := make([]buffer.Record, 0, 100)
		for j := i; j < i+100 && j < n; j++ {
			ts := t0.Add(time.Duration(j) * time.Second)
			for p := range samples {
				samples[p] = drivers.Sample{Point: fmt.Sprintf("P%04d", p), TS: ts, Value: drivers.Float(float64((j + p) % 1000))}
			}
			// as the agent stores a 200-point scan: compact bodies cut at
			// 300 bytes (agent.smallDataBody)
			enc.Split(drivers.Refs(samples), true, 300, func(body []byte) {
				recs = append(recs, buffer.Record{Lane: buffer.LaneData, Created: ts, Payload: append([]byte(nil), body...)})
			})
		}
		if _, err := box.Append(recs); err != nil {
			b.Fatal(err)
		}
		records += len(recs)
	}
	return records
}

type drainSub struct {
	mu          sync.Mutex
	seen        map[uint64]bool
	first, last time.Time
	lat         []time.Duration
}

func subscribe(b *testing.B, url string) *drainSub {
	s := &drainSub{seen: map[uint64]bool{}}
	o := paho.NewClientOptions().AddBroker(url).SetClientID("drain-platform").SetCleanSession(true)
	c := paho.NewClient(o)
	if tok := c.Connect(); !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
		b.Fatalf("subscriber connect: %v", tok.Error())
	}
	b.Cleanup(func() { c.Disconnect(100) })
	if tok := c.Subscribe("canary/+/+/data", 1, s.on); !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
		b.Fatalf("subscribe: %v", tok.Error())
	}
	return s
}

func (s *drainSub) on(_ paho.Client, m paho.Message) {
	// Only the envelope and the first sample's ts are read: a subscriber
	// decoding 400,000 samples/s of JSON would measure itself.
	now := time.Now()
	p := m.Payload()
	hist := bytes.Contains(p[:min(len(p), 200)], []byte(`"historical":true`))
	seq := field(p, `"seq":`)
	s.mu.Lock()
	defer s.mu.Unlock()
	if !hist {
		if !s.first.IsZero() && !bytes.Contains(p[:min(len(p), 200)], []byte(`"boot":"before"`)) {
			s.lat = append(s.lat, now.Sub(time.UnixMilli(int64(field(p, `"ts":`)))))
		}
		return
	}
	if s.seen[seq] {
		return
	}
	if len(s.seen) == 0 {
		s.first = now
	}
	s.seen[seq] = true
	s.last = now
}

func field(b []byte, name string) uint64 {
	i := bytes.Index(b, []byte(name))
	if i < 0 {
		return 0
	}
	var n uint64
	for _, c := range b[i+len(name):] {
		if c < '0' || c > '9' {
			break
		}
		n = n*10 + uint64(c-'0')
	}
	return n
}

func (s *drainSub) historical() int { s.mu.Lock(); defer s.mu.Unlock(); return len(s.seen) }

func (s *drainSub) result() (time.Time, time.Time, int, []time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.first, s.last, len(s.seen), append([]time.Duration(nil), s.lat...)
}
