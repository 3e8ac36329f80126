package sim

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"sync"
	"time"

	"canary/agent"
	"canary/buffer"
	"canary/drivers/modbus/modbustest"
	"canary/drivers/mqtt/mqtttest"
)

// Demo returns the `canary demo` command for a binary wired with opts.
func Demo(opts agent.Options) agent.DemoFunc {
	return func(ctx context.Context, out io.Writer, d time.Duration, log *slog.Logger) error {
		return run(ctx, out, d, log, opts)
	}
}

func run(ctx context.Context, out io.Writer, d time.Duration, log *slog.Logger, opts agent.Options) error {
	dir, err := os.MkdirTemp("", "canary-demo-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	srv, err := modbustest.New("127.0.0.1:0")
	if err != nil {
		return fmt.Errorf("simulated rack: %w", err)
	}
	defer srv.Stop()
	broker, err := mqtttest.NewBroker(mqtttest.BrokerOptions{})
	if err != nil {
		return fmt.Errorf("platform broker: %w", err)
	}
	defer broker.Close()
	rec, err := broker.Record("canary/#")
	if err != nil {
		return err
	}
	defer rec.Close()

	cfg := demoConfig(srv.Addr(), broker.URL(), dir)
	box, err := buffer.OpenBolt(cfg.Buffer.Path, buffer.Options{MaxBytes: int64(cfg.Buffer.MaxBytes)})
	if err != nil {
		return err
	}
	ledger := &ledger{Outbox: box, appended: map[buffer.Lane]map[uint64]bool{}}
	opts.Outbox, opts.Log = ledger, log
	a, err := agent.New(cfg, opts)
	if err != nil {
		return err
	}
	start := time.Now()
	p := newPrinter(out, rec, units(), start)
	fmt.Fprintf(out, "canary demo: simulated gas rack (Modbus TCP %s) → agent → platform broker (%s)\n", srv.Addr(), broker.Addr())
	if d > 0 {
		fmt.Fprintf(out, "runs for %v; the broker goes away at %v for %v; GT-103 drifts above 25 %%LEL at about %v\n\n",
			d, outageStart, outageEnd-outageStart, driftStart+2*time.Second)
	} else {
		fmt.Fprintf(out, "runs until Ctrl-C, in %v cycles; each cycle the broker goes away at %v for %v\n\n", cycle, outageStart, outageEnd-outageStart)
	}

	runCtx, stop := context.WithCancel(context.Background())
	defer stop()
	agentDone := make(chan error, 1)
	update(srv, 0)
	go func() { agentDone <- a.Run(runCtx) }()
	go p.run(runCtx)

	var end <-chan time.Time
	if d > 0 {
		end = time.After(d)
	}
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	down := false
loop:
	for {
		select {
		case <-ctx.Done():
			break loop
		case <-end:
			break loop
		case <-tick.C:
		}
		t := time.Since(start) % cycle
		update(srv, t)
		switch inOutage := t >= outageStart && t < outageEnd; {
		case inOutage && !down:
			broker.Stop()
			down = true
			p.note("───── platform broker DOWN: the agent keeps scanning into its outbox ─────")
		case !inOutage && down:
			if err := broker.Start(); err != nil {
				return fmt.Errorf("broker restart: %w", err)
			}
			down = false
			p.note("───── platform broker BACK: the outbox drains, oldest first ─────")
		case down && int(t/(100*time.Millisecond))%20 == 0:
			s := ledger.Stats()
			p.note(fmt.Sprintf("outbox: %d data and %d event records queued, %d bytes on disk",
				s.Lanes[buffer.LaneData].Depth, s.Lanes[buffer.LaneEvent].Depth, s.Bytes))
		}
	}
	if down {
		if err := broker.Start(); err != nil {
			return fmt.Errorf("broker restart: %w", err)
		}
	}
	stop() // graceful: the agent flushes its outbox, then says offline
	if err := <-agentDone; err != nil {
		return err
	}
	return p.verify(ledger.snapshot(), 5*time.Second)
}

// ledger is the outbox with a note of every record the agent appended,
// so the demo can prove the platform got them all.
type ledger struct {
	buffer.Outbox
	mu       sync.Mutex
	appended map[buffer.Lane]map[uint64]bool
}

func (l *ledger) Append(recs []buffer.Record) ([]buffer.Record, error) {
	out, err := l.Outbox.Append(recs)
	l.mu.Lock()
	for _, r := range out {
		if l.appended[r.Lane] == nil {
			l.appended[r.Lane] = map[uint64]bool{}
		}
		l.appended[r.Lane][r.Seq] = true
	}
	l.mu.Unlock()
	return out, err
}

func (l *ledger) snapshot() map[buffer.Lane]map[uint64]bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	out := map[buffer.Lane]map[uint64]bool{}
	for lane, m := range l.appended {
		out[lane] = map[uint64]bool{}
		for s := range m {
			out[lane][s] = true
		}
	}
	return out
}
