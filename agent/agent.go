package agent

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"runtime/debug"
	"sync"
	"time"

	"canary/agent/clock"
	"canary/agent/wire"
	"canary/buffer"
	"canary/config"
	"canary/drivers"
)

// SinkFactory makes the uplink from its config. The will is the retained
// offline status the broker publishes when the agent vanishes.
type SinkFactory func(c config.MQTT, will *drivers.Message, log *slog.Logger) (drivers.Sink, error)

// Options are what the agent gets from the binary that wires it: the
// protocol drivers and the uplink, so this package imports no protocol
// library.
type Options struct {
	Registry *drivers.Registry
	NewSink  SinkFactory
	Clock    clock.Clock   // nil: real
	Log      *slog.Logger  // nil: discard
	Version  string        // for status and the agent events
	Outbox   buffer.Outbox // nil: bbolt at cfg.Buffer.Path
	// BuildTime is when the binary was built: an agent clock earlier than
	// this is unsynced (zero: a fixed floor in 2025).
	BuildTime time.Time
	// LogLevel, when set, is the level of Log that the log.level command
	// changes.
	LogLevel *slog.LevelVar
	// Firmware, when set, lets the agent commit a trial, publish firmware
	// events and run firmware.update (firmware.go).
	Firmware Firmware
}

// Agent is one running gateway: sources → pipeline → outbox → forwarder.
type Agent struct {
	cfg       *config.Config
	opts      Options
	clock     clock.Clock
	log       *slog.Logger
	boot      string
	started   time.Time
	ids       *idGen
	plaintext bool

	box     buffer.Outbox
	sink    drivers.Sink
	sources []drivers.Source
	pipe    *pipeline
	fwd     *forwarder
	m       *mgmt   // health, metrics, clock sanity, commands
	fw      *fwLink // nil: no Options.Firmware

	out          *outboxGuard  // appends go through it: survives a failing disk
	outboxReset  string        // why the outbox was reset at open; "" if it was not
	superviseMin time.Duration // first restart delay of a failed source
}

// New prepares an agent; it opens the outbox but does no network I/O.
func New(cfg *config.Config, opts Options) (*Agent, error) {
	if opts.Clock == nil {
		opts.Clock = clock.Real{}
	}
	if opts.Log == nil {
		opts.Log = slog.New(slog.DiscardHandler)
	}
	if opts.Registry == nil || opts.NewSink == nil {
		return nil, errors.New("agent: options need a Registry and a NewSink")
	}
	cfg, err := cfg.WithPoints() // a restart or rollback gets a config without them
	if err != nil {
		return nil, err
	}
	a := &Agent{cfg: cfg, opts: opts, clock: opts.Clock, log: opts.Log, superviseMin: time.Second}
	a.started = a.clock.Now()
	a.boot = newBoot(a.started)
	a.ids = &idGen{boot: a.boot}
	for _, u := range cfg.Platform.MQTT.Brokers() {
		a.plaintext = a.plaintext || isPlaintext(u)
	}
	a.pipe = newPipeline(cfg, a.ids)
	a.m = newMgmt(a)
	a.openState()
	if err := a.openOutbox(); err != nil {
		return nil, err
	}
	a.out = a.newGuard()
	topics := wire.NewTopics(cfg.Platform.MQTT.TopicPrefix, cfg.Site.ID, cfg.Site.Gateway)
	will := &drivers.Message{Topic: topics.Status, Payload: willPayload(cfg.Site.ID, cfg.Site.Gateway, a.boot), Retained: true}
	sink, err := opts.NewSink(cfg.Platform.MQTT, will, a.log)
	if err != nil {
		a.box.Close()
		return nil, err
	}
	sink = a.meterSink(sink)
	a.sink = sink
	env := drivers.Env{Clock: a.clock, Log: a.log, StateDir: cfg.StateDir}
	if a.sources, err = opts.Registry.Open(cfg.Devices, env); err != nil {
		a.box.Close()
		return nil, err
	}
	m := cfg.Platform.MQTT
	a.fwd = &forwarder{sink: sink, box: a.box, framer: wire.NewFramer(cfg.Site.ID, cfg.Site.Gateway),
		topics: topics, clock: a.clock, log: a.log, window: max(m.MaxInflight, 1), rate: float64(cfg.Buffer.BackfillRate),
		retry:  backoff{min: max(m.ReconnectMin.D(), 10*time.Millisecond), max: max(m.ReconnectMax.D(), m.ReconnectMin.D(), 10*time.Millisecond)},
		status: a.statusJSON, onReady: a.onUplinkReady, onDamaged: a.damaged}
	a.fw = newFWLink(a)
	a.m.cmd = newCommander(a)
	// The drivers and the pipeline have what they need of the points; the
	// agent keeps the rest (a restart gets them back).
	a.cfg = cfg.WithoutPoints()
	return a, nil
}

// Boot is this process start's id, as carried by every message.
func (a *Agent) Boot() string { return a.boot }

// Run runs until ctx is done, then shuts down gracefully: sources stop, a
// `stopping` event is queued, the outbox is flushed for a bounded time while
// the link is up, a clean offline status is published and the outbox
// closed.
func (a *Agent) Run(ctx context.Context) error {
	defer a.box.Close()
	started := wire.Event{Type: wire.TypeAgent, State: "started", Version: a.opts.Version}
	if a.cfg.Hash != "" {
		started.Detail = "config " + shortHash(a.cfg.Hash)
	}
	a.event(started)
	a.announceReset()
	manage := a.m.start() // before the forwarder runs: the first birth already lists the warnings it raises
	srcCtx, stopSources := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	for _, src := range a.sources {
		wg.Add(1)
		go func() { defer wg.Done(); a.supervise(srcCtx, src) }()
	}
	wg.Add(1)
	go func() { defer wg.Done(); a.watchBypasses(srcCtx) }()
	wg.Add(1)
	go func() { defer wg.Done(); a.retryOutbox(srcCtx) }()
	wg.Add(1)
	go func() { defer wg.Done(); manage(srcCtx) }()
	if a.fw != nil {
		wg.Add(1)
		go func() { defer wg.Done(); a.fw.run(srcCtx) }()
	}
	fwdCtx, stopFwd := context.WithCancel(context.Background())
	fwdDone := make(chan struct{})
	go func() { defer close(fwdDone); a.fwd.run(fwdCtx) }()
	stopHTTP := a.serveHTTP()

	<-ctx.Done()
	a.log.Info("stopping")
	stopSources()
	wg.Wait()
	a.event(wire.Event{Type: wire.TypeAgent, State: "stopping", Version: a.opts.Version})
	a.drain(5 * time.Second)
	stopFwd()
	<-fwdDone
	stopHTTP()
	a.goodbye()
	return nil
}

// drain waits, bounded, until the outbox is empty or the link is down.
func (a *Agent) drain(limit time.Duration) {
	deadline := time.Now().Add(limit)
	for time.Now().Before(deadline) {
		up, _, _ := a.fwd.link()
		s := a.box.Stats()
		if !up || s.Lanes[buffer.LaneEvent].Depth+s.Lanes[buffer.LaneData].Depth == 0 {
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// goodbye publishes the offline status and disconnects cleanly.
func (a *Agent) goodbye() {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	// The forwarder has stopped, but the connection may still be open: a
	// sink without one fails this at once.
	if err := a.fwd.publishStatus(ctx, "offline"); err != nil {
		a.log.Warn("offline status not published", "err", err)
	}
	_ = a.sink.Close(ctx)
}

// supervise runs one source, restarting it with back-off after an error
// or a panic.
func (a *Agent) supervise(ctx context.Context, src drivers.Source) {
	bo := backoff{min: a.superviseMin, max: time.Minute}
	for ctx.Err() == nil {
		err := a.runSource(ctx, src)
		if ctx.Err() != nil {
			return
		}
		d := bo.next()
		a.log.Error("source stopped; restarting", "err", err, "retry_in", d)
		select {
		case <-ctx.Done():
		case <-a.clock.After(d):
		}
	}
}

func (a *Agent) runSource(ctx context.Context, src drivers.Source) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("agent: source panic: %v\n%s", r, debug.Stack())
		}
	}()
	if err = src.Run(ctx, a.onScan); err == nil && ctx.Err() == nil {
		err = errors.New("agent: source returned")
	}
	return err
}

// onScan is the per-scan hot path, on the source's goroutine: pipeline,
// then one outbox append holding the events and the data records.
func (a *Agent) onScan(sc drivers.Scan) {
	now := a.clock.Now()
	samples, evs := a.pipe.process(&sc, now)
	a.observe(&sc, now)
	if len(samples) == 0 && len(evs) == 0 {
		return
	}
	ds := a.pipe.devices[sc.Device]
	hist := a.historical()
	rb := &ds.rec
	rb.reset()
	if len(evs) > 0 {
		rb.add(buffer.Record{Lane: buffer.LaneEvent, Boot: a.boot, Created: now,
			Payload: wire.AppendEvents(nil, hist, evs)})
	}
	rb.data(samples, hist, a.boot, now)
	a.append(rb.recs)
	if len(evs) > 0 {
		a.saveState() // after the events are durable: a crash repeats, never loses
		if hasCondition(evs) {
			a.m.health.Touch() // the retained status lists what is active now
		}
	}
}

func (a *Agent) append(recs []buffer.Record) { a.out.append(recs) }

// retryOutbox retries a failing outbox even when no scan comes.
func (a *Agent) retryOutbox(ctx context.Context) {
	t := a.clock.NewTicker(retryEvery)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C():
			a.out.retry()
		}
	}
}

// event queues one agent-level event stamped now.
func (a *Agent) event(ev wire.Event) {
	now := a.clock.Now()
	ev.ID, ev.TS = a.ids.next(), now.UnixMilli()
	a.append([]buffer.Record{{Lane: buffer.LaneEvent, Boot: a.boot, Created: now,
		Payload: wire.AppendEvents(nil, a.historical(), []wire.Event{ev})}})
}

// historical reports whether a record made now waits for the uplink: it
// is then flagged as backfill for good.
func (a *Agent) historical() bool {
	up, _, _ := a.fwd.link()
	return !up
}

func (a *Agent) encodeGap(g buffer.Gap) []byte {
	return wire.AppendEvents(nil, a.historical(), []wire.Event{{ID: a.ids.next(), TS: a.clock.Now().UnixMilli(),
		Type: wire.TypeGap, State: "dropped", Lane: g.Lane.String(), FromSeq: g.FromSeq, ToSeq: g.ToSeq,
		Records: g.Records, Reason: g.Reason}})
}

// damaged tells the platform about a record the forwarder had to drop
// because its stored body could not be decoded.
func (a *Agent) damaged(r buffer.Record) {
	a.event(wire.Event{Type: wire.TypeGap, State: "dropped", Lane: r.Lane.String(), FromSeq: r.Seq, ToSeq: r.Seq,
		Records: 1, Reason: "corrupt"})
}

func shortHash(h string) string {
	if len(h) > 12 {
		return h[:12]
	}
	return h
}

// isPlaintext reports an uplink without TLS.
func isPlaintext(raw string) bool {
	u, err := url.Parse(raw)
	if err != nil {
		return false
	}
	switch u.Scheme {
	case "tcp", "mqtt", "ws":
		return true
	}
	return false
}
