// Package bench holds reproducible end-to-end benchmarks of the real canary
// binary. They are benchmarks only: a plain `go test ./...` runs none of
// them, and -short skips them. See RESULTS.md for how to run them and the
// figures of the last run.
package bench

import (
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"

	"canary/agent/wire"
	"canary/drivers/modbus/modbustest"
	"canary/drivers/mqtt/mqtttest"
	"canary/tests/harness"
)

const (
	warmup  = 3 * time.Second
	measure = 10 * time.Second
)

// BenchmarkSpine runs the real binary between a Modbus server whose
// registers all change every 50 ms and a real Mosquitto, and measures a
// fixed 10 s window after a 3 s warm-up. It ignores b.N: each
// sub-benchmark runs once and reports its figures with ReportMetric.
func BenchmarkSpine(b *testing.B) {
	if testing.Short() {
		b.Skip("spine benchmark: skipped with -short")
	}
	bin := harness.Binary(b)
	for _, c := range []struct {
		points    int
		intervals []time.Duration
	}{
		{200, []time.Duration{100 * time.Millisecond}},
		{2000, []time.Duration{100 * time.Millisecond, time.Second}},
	} {
		b.Run(fmt.Sprintf("points=%d", c.points), func(b *testing.B) {
			for _, iv := range c.intervals {
				b.Run(fmt.Sprintf("interval=%v", iv), func(b *testing.B) {
					runSpine(b, bin, c.points, iv)
				})
			}
		})
	}
}

func runSpine(b *testing.B, bin string, points int, interval time.Duration) {
	broker := mqtttest.StartMosquitto(b)
	srv := modbustest.Start(b)
	stopChanger := harness.CountUp(srv, points, 50*time.Millisecond)
	defer stopChanger()

	sub := newSubscriber(b, broker.URL())
	rack := harness.Rack{Dir: b.TempDir(), ModbusAddr: srv.Addr(), BrokerURL: broker.URL(), Points: points,
		Interval: interval, MQTT: "max_inflight: 256", LogLevel: "warn"}
	a := harness.StartAgent(b, bin, rack.WriteConfig(b))

	// Warm-up: wait for the first sample, then 3 s more.
	deadline := time.Now().Add(15 * time.Second)
	for sub.total() == 0 {
		if time.Now().After(deadline) {
			b.Fatalf("no sample delivered within 15 s of starting the agent\n%s", a.StderrTail(4000))
		}
		time.Sleep(20 * time.Millisecond)
	}
	time.Sleep(warmup)

	b.ResetTimer()
	cpu0, err := harness.CPUTicks(a.Pid())
	if err != nil {
		b.Fatal(err)
	}
	req0 := srv.Requests()
	start := time.Now()
	sub.startWindow(start)
	var rss []float64
	tick := time.NewTicker(250 * time.Millisecond)
	for time.Since(start) < measure {
		<-tick.C
		if r, err := harness.RSSMiB(a.Pid()); err == nil {
			rss = append(rss, r)
		}
	}
	tick.Stop()
	cpu1, err := harness.CPUTicks(a.Pid())
	if err != nil {
		b.Fatal(err)
	}
	elapsed := time.Since(start)
	lat, n, msgs := sub.endWindow()
	req1 := srv.Requests()
	b.StopTimer()

	if err := a.Stop(20 * time.Second); err != nil {
		b.Error(err)
	}

	if n == 0 {
		b.Fatalf("no sample delivered in the measurement window\n%s", a.StderrTail(4000))
	}
	cpuSec := float64(cpu1-cpu0) / harness.ClockTicks
	sec := elapsed.Seconds()
	slices.Sort(lat)
	b.ReportMetric(0, "ns/op") // a fixed wall window: ns/op means nothing
	b.ReportMetric(float64(n)/sec, "samples/s")
	b.ReportMetric(float64(points)/interval.Seconds(), "expected-samples/s")
	b.ReportMetric(float64(msgs)/sec, "data-msgs/s")
	b.ReportMetric(float64(req1-req0)/sec, "modbus-reads/s")
	b.ReportMetric(cpuSec/(float64(n)/1e6), "cpu-s/Msample")
	if cpuSec > 0 {
		b.ReportMetric(float64(n)/cpuSec, "samples/cpu-s")
	}
	b.ReportMetric(cpuSec/sec*100, "cpu-%")
	if len(rss) > 0 {
		var sum float64
		for _, r := range rss {
			sum += r
		}
		b.ReportMetric(sum/float64(len(rss)), "rss-avg-MiB")
		b.ReportMetric(slices.Max(rss), "rss-max-MiB")
	}
	b.ReportMetric(pct(lat, 0.50), "p50-ms")
	b.ReportMetric(pct(lat, 0.90), "p90-ms")
	b.ReportMetric(pct(lat, 0.99), "p99-ms")
	b.ReportMetric(float64(lat[len(lat)-1]), "max-ms")
	b.Logf("latency ms: p10 %v p50 %v p90 %v p95 %v p99 %v p99.9 %v max %v; %d samples in %d data messages",
		pct(lat, .10), pct(lat, .50), pct(lat, .90), pct(lat, .95), pct(lat, .99), pct(lat, .999), lat[len(lat)-1], n, msgs)
}

// pct is the q-quantile of sorted (nearest rank).
func pct(sorted []int64, q float64) float64 {
	i := int(q*float64(len(sorted))+0.5) - 1
	i = max(0, min(i, len(sorted)-1))
	return float64(sorted[i])
}

// subscriber is the platform: it counts the samples delivered on the data
// topic and their read→deliver latency. The paho callback only stamps the
// arrival time and queues the payload; decoding happens on another
// goroutine so it does not delay the next arrival's stamp.
type subscriber struct {
	c     paho.Client
	queue chan arrival
	done  chan struct{}

	mu      sync.Mutex
	all     int64
	inWin   bool
	winFrom time.Time
	winTo   time.Time // zero while the window is open
	n       int64
	msgs    int64
	lat     []int64
}

type arrival struct {
	at      time.Time
	payload []byte
}

func newSubscriber(b *testing.B, url string) *subscriber {
	s := &subscriber{queue: make(chan arrival, 1<<16), done: make(chan struct{})}
	o := paho.NewClientOptions().AddBroker(url).SetClientID("bench-platform").SetCleanSession(true).
		SetAutoReconnect(true).SetOrderMatters(true)
	o.SetOnConnectHandler(func(c paho.Client) {
		c.Subscribe("canary/#", 1, s.onMessage)
	})
	s.c = paho.NewClient(o)
	tok := s.c.Connect()
	if !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
		b.Fatalf("subscriber connect: %v", tok.Error())
	}
	go s.decode()
	b.Cleanup(func() {
		s.c.Disconnect(100)
		close(s.queue)
		<-s.done
	})
	return s
}

func (s *subscriber) onMessage(_ paho.Client, m paho.Message) {
	if !strings.HasSuffix(m.Topic(), "/data") {
		return
	}
	s.queue <- arrival{at: time.Now(), payload: m.Payload()}
}

func (s *subscriber) decode() {
	defer close(s.done)
	for a := range s.queue {
		m, err := wire.Decode(a.payload)
		if err != nil {
			continue
		}
		at := a.at.UnixMilli()
		s.mu.Lock()
		s.all += int64(len(m.Samples))
		if s.inWin && !a.at.Before(s.winFrom) && (s.winTo.IsZero() || a.at.Before(s.winTo)) {
			s.n += int64(len(m.Samples))
			s.msgs++
			for _, x := range m.Samples {
				s.lat = append(s.lat, at-x.TS)
			}
		}
		s.mu.Unlock()
	}
}

func (s *subscriber) total() int64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.all
}

func (s *subscriber) startWindow(from time.Time) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.inWin, s.winFrom, s.winTo, s.n, s.msgs, s.lat = true, from, time.Time{}, 0, 0, s.lat[:0]
}

// endWindow closes the window at the current time. Arrivals stamped
// before then but still queued for decoding are counted: it waits for the
// queue to drain.
func (s *subscriber) endWindow() (lat []int64, samples, msgs int64) {
	s.mu.Lock()
	s.winTo = time.Now()
	s.mu.Unlock()
	for i := 0; i < 500 && len(s.queue) > 0; i++ {
		time.Sleep(10 * time.Millisecond)
	}
	time.Sleep(50 * time.Millisecond) // the item being decoded
	s.mu.Lock()
	defer s.mu.Unlock()
	s.inWin = false
	return s.lat, s.n, s.msgs
}

func TestMain(m *testing.M) { harness.Main(m) }
