package opcua

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"canary/agent"
	"canary/buffer"
	"canary/config"
	"canary/drivers"
	"canary/drivers/opcua/opcuatest"
)

// BenchmarkNotificationsToOutbox is BenchmarkNotifications through the
// real agent: 5,000 monitored items in one session, every notification
// through the pipeline (report-by-exception, alarms) into the bbolt
// outbox at buffer.path, durable (fsync) before emit returns. The uplink
// stays down, so the outbox only fills. One op is 20 changes of every
// item; it reports samples/s that reached the outbox, counted when the
// agent's onScan returned, and checks afterwards, by opening the outbox
// file, that it holds a data record for every scan of the timed part.
//
//	go test -run '^$' -bench NotificationsToOutbox -benchtime 1x ./drivers/opcua
func BenchmarkNotificationsToOutbox(b *testing.B) {
	const items, rounds = 5000, 20
	srv, cfg := outboxBenchSetup(b, items)
	src := &countingSource{}
	a := benchAgent(b, cfg, src)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); _ = a.Run(ctx) }()
	stopped := false
	stop := func() {
		if !stopped {
			stopped = true
			cancel()
			<-done
		}
	}
	defer stop()
	// The read after connect (5,000 samples) and every item's initial
	// notification (same values: report-by-exception drops them).
	waitFor(b, func() bool { return src.Notifications() >= items && src.samples.Load() >= items }, 60*time.Second, "setup")
	settle(func() int64 { return src.samples.Load() })
	base, baseScans := src.samples.Load(), src.scans.Load()
	b.ResetTimer()
	start := time.Now()
	for i := range b.N * rounds * items {
		srv.Set(fmt.Sprintf("v%04d", i%items), float64(i+1), time.Now())
	}
	setDone := time.Since(start)
	settle(func() int64 { return src.samples.Load() })
	elapsed := time.Unix(0, src.last.Load()).Sub(start)
	b.StopTimer()
	n := src.samples.Load() - base
	stop()
	recs, size := storedRecords(b, cfg.Buffer.Path)
	// One record for the read after connect, then at least one per scan
	// of the timed part (all new values: none dropped by report-by-exception).
	if want := 1 + src.scans.Load() - baseScans; int64(recs) < want {
		b.Fatalf("outbox holds %d data records, want at least %d", recs, want)
	}
	b.ReportMetric(items, "items/session")
	b.ReportMetric(float64(n)/elapsed.Seconds(), "samples/s")
	b.ReportMetric(float64(n)/float64(b.N*rounds*items), "stored/change")
	// When stored/change is 1 and changes/s is close to samples/s, the
	// in-process server, not the agent, set the pace.
	b.ReportMetric(float64(b.N*rounds*items)/setDone.Seconds(), "changes/s")
	b.ReportMetric(float64(size)/float64(n+items), "outbox-B/sample")
}

func outboxBenchSetup(b *testing.B, items int) (*opcuatest.Server, *config.Config) {
	srv, points := benchServer(b, items)
	cfg := config.Default()
	cfg.Site = config.Site{ID: "bench", Gateway: "gw"}
	cfg.Platform.MQTT.URL = "tcp://127.0.0.1:1"
	cfg.HTTP.Listen = ""
	cfg.StateDir = b.TempDir()
	cfg.Buffer.Path = filepath.Join(cfg.StateDir, "outbox.db")
	cfg.Devices = []config.Device{{ID: "bench", Driver: "opcua", Endpoint: srv.URL,
		Security: config.OPCUASecurity{Mode: "None"}, Timeout: config.Duration(10 * time.Second),
		Interval: config.Duration(5 * time.Second), PublishInterval: config.Duration(20 * time.Millisecond), Points: points}}
	return srv, &cfg
}

// benchAgent runs the real opcua driver behind src, which counts what
// the agent took, and an uplink that is down.
func benchAgent(b *testing.B, cfg *config.Config, src *countingSource) *agent.Agent {
	reg := &drivers.Registry{}
	reg.Register("opcua", drivers.DriverFunc(func(devs []config.Device, env drivers.Env) ([]drivers.Source, error) {
		s, err := New(devs[0], env)
		src.Source = s
		return []drivers.Source{src}, err
	}))
	a, err := agent.New(cfg, agent.Options{Registry: reg,
		NewSink: func(config.MQTT, *drivers.Message, *slog.Logger) (drivers.Sink, error) { return downSink{}, nil }})
	if err != nil {
		b.Fatal(err)
	}
	return a
}

// countingSource counts the samples of each scan once the agent's emit
// returned, that is once they are durable in the outbox (every change is
// a new value, so report-by-exception keeps them all).
type countingSource struct {
	*Source
	samples atomic.Int64
	scans   atomic.Int64 // scans with samples
	last    atomic.Int64 // Unix ns of the last emit's return
}

func (c *countingSource) Run(ctx context.Context, emit func(drivers.Scan)) error {
	return c.Source.Run(ctx, func(sc drivers.Scan) {
		n := len(sc.Samples)
		emit(sc)
		c.samples.Add(int64(n))
		c.last.Store(time.Now().UnixNano())
		if n > 0 {
			c.scans.Add(1)
		}
	})
}

// settle waits until count has not moved for 200 ms (bounded: 2 min).
func settle(count func() int64) {
	last, stable := int64(-1), 0
	for deadline := time.Now().Add(2 * time.Minute); stable < 10 && time.Now().Before(deadline); {
		time.Sleep(20 * time.Millisecond)
		if n := count(); n == last {
			stable++
		} else {
			last, stable = n, 0
		}
	}
}

// storedRecords is the data lane of the closed outbox file: records and
// payload bytes (whatever the stored encoding).
func storedRecords(b *testing.B, path string) (records int, bytes int64) {
	box, err := buffer.OpenBolt(path, buffer.Options{})
	if err != nil {
		b.Fatal(err)
	}
	defer box.Close()
	l := box.Stats().Lanes[buffer.LaneData]
	return l.Depth, l.Bytes
}

// downSink is an uplink that never connects.
type downSink struct{}

var errDown = errors.New("bench: uplink down")

func (downSink) Connect(context.Context) error { return errDown }
func (downSink) Lost() <-chan struct{} {
	c := make(chan struct{})
	close(c)
	return c
}
func (downSink) Publish(context.Context, drivers.Message) drivers.Delivery { return failed{} }
func (downSink) Subscribe(context.Context, string, drivers.Handler) error  { return errDown }
func (downSink) Close(context.Context) error                               { return nil }
func (downSink) Endpoint() string                                          { return "none" }

type failed struct{}

func (failed) Done() <-chan struct{} {
	c := make(chan struct{})
	close(c)
	return c
}
func (failed) Err() error { return drivers.ErrNotConnected }
