package agent

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"canary/agent/sdnotify"
	"canary/agent/wire"
	"canary/config"
)

// Runner runs one agent after another in this process. A `restart` or
// `config.apply` command stops the current agent gracefully (sources stop,
// the outbox is flushed while the link is up, offline status, outbox
// closed) and starts the next one on the same outbox file. A config on
// trial that does not bring the uplink back within
// platform.commands.apply_timeout is rolled back: the previous file is
// restored and the previous config started again, which says so in an
// `agent` event (state config_rolled_back) and in status. After a
// firmware.update installed a new version, Run stops the agent the same
// way and returns nil: the process exits, and the supervisor (systemd,
// the firmware launcher) starts the new version on trial.
//
// It also speaks systemd's notify protocol when NOTIFY_SOCKET is set:
// READY=1 once the first agent runs, WATCHDOG=1 while the agent's loops
// are alive, STOPPING=1 on shutdown.
type Runner struct {
	Options Options

	reqs  chan request
	exits chan struct{}

	mu        sync.Mutex
	status    ConfigStatus
	announced bool // the last rollback was reported by an agent
}

// ConfigStatus is the config's story in status: what runs and whether a
// remote change is on trial or was rolled back.
type ConfigStatus struct {
	Hash        string `json:"hash"`
	State       string `json:"state"` // running, trial, rolled_back
	AppliedAt   int64  `json:"applied_at,omitempty"`
	TrialUntil  int64  `json:"trial_until,omitempty"`
	RolledBack  int64  `json:"rolled_back_at,omitempty"`
	RejectedCfg string `json:"rejected_hash,omitempty"`
	Reason      string `json:"reason,omitempty"`
}

type request struct {
	cfg   *config.Config
	trial *trial
}

// runLink is what an agent knows of its Runner.
type runLink struct{ r *Runner }

// restart asks the Runner to replace the agent; it does not block.
func (l *runLink) restart(cfg *config.Config, t *trial) {
	select {
	case l.r.reqs <- request{cfg: cfg, trial: t}:
	default: // one is pending already
	}
}

// exit asks the Runner to stop the agent gracefully and return from Run,
// so the process exits and its supervisor (systemd, the firmware
// launcher) starts what is installed; it does not block.
func (l *runLink) exit() {
	select {
	case l.r.exits <- struct{}{}:
	default:
	}
}

// NewRunner returns a Runner for opts.
func NewRunner(opts Options) *Runner {
	return &Runner{Options: opts, reqs: make(chan request, 1), exits: make(chan struct{}, 1)}
}

func (r *Runner) log() *slog.Logger {
	if r.Options.Log == nil {
		return slog.New(slog.DiscardHandler)
	}
	return r.Options.Log
}

// Run runs agents, starting with cfg, until ctx ends.
func (r *Runner) Run(ctx context.Context, cfg *config.Config) error {
	t := resumeTrial(cfg, r.log())
	r.setStatus(ConfigStatus{Hash: cfg.Hash, State: "running"})
	for first := true; ; first = false {
		if t != nil {
			r.setStatus(ConfigStatus{Hash: cfg.Hash, State: "trial", TrialUntil: t.deadline.UnixMilli()})
		}
		a, err := New(cfg, r.Options)
		if err != nil && t != nil {
			cfg, t = r.rollback(t, err.Error()), nil
			continue
		}
		if err != nil {
			return fmt.Errorf("cannot start: %w", err)
		}
		a.m.run = &runLink{r: r}
		cfg = a.cfg // without its points while a runs
		r.log().Info("agent started", "boot", a.Boot(), "config", shortHash(cfg.Hash))
		next, stop := r.runOne(ctx, a, t, first)
		if stop {
			return nil
		}
		cfg, t = next.cfg, next.trial
	}
}

// runOne runs a until ctx ends or a replacement is due.
func (r *Runner) runOne(ctx context.Context, a *Agent, t *trial, first bool) (request, bool) {
	actx, cancel := context.WithCancel(ctx)
	defer cancel()
	done := make(chan struct{})
	go func() { defer close(done); _ = a.Run(actx) }()
	stop := func() { cancel(); <-done }
	if first {
		sdnotify.Notify("READY=1")
	}
	var deadline <-chan time.Time
	if t != nil {
		deadline = time.After(time.Until(t.deadline))
	}
	var poll <-chan time.Time // the uplink, watched only while a trial waits for it
	if t != nil {
		tk := time.NewTicker(200 * time.Millisecond)
		defer tk.Stop()
		poll = tk.C
	}
	var wd <-chan time.Time
	if d := sdnotify.WatchdogInterval(); d > 0 {
		tk := time.NewTicker(d)
		defer tk.Stop()
		wd = tk.C
	}
	for {
		select {
		case <-ctx.Done():
			sdnotify.Notify("STOPPING=1")
			stop()
			return request{}, true
		case <-done:
			return request{}, true
		case <-r.exits:
			sdnotify.Notify("STOPPING=1")
			stop()
			r.log().Warn("agent stopped; the process exits for a firmware update")
			return request{}, true
		case req := <-r.reqs:
			stop()
			return req, false
		case <-poll:
			if up, _, _ := a.fwd.link(); up {
				r.commit(a, t)
				t, deadline, poll = nil, nil, nil
			}
		case <-deadline:
			_, _, lastErr := a.fwd.link()
			stop()
			return request{cfg: r.rollback(t, "uplink not back within "+t.timeout.String()+": "+lastErr)}, false
		case <-wd:
			if err := a.alive(); err == nil {
				sdnotify.Notify("WATCHDOG=1")
			} else {
				a.log.Error("watchdog withheld", "err", err)
			}
		}
	}
}

// commit ends a trial: the new config stays.
func (r *Runner) commit(a *Agent, t *trial) {
	t.finish()
	now := a.clock.Now()
	r.setStatus(ConfigStatus{Hash: a.cfg.Hash, State: "running", AppliedAt: now.UnixMilli()})
	a.m.health.Clear(WarnConfigRolledBack)
	a.m.health.Touch() // status says so without waiting for the heartbeat
	a.event(wire.Event{Type: wire.TypeAgent, State: "config_applied", Version: a.opts.Version,
		Detail: "config " + shortHash(a.cfg.Hash) + " applied; uplink is back"})
	a.log.Info("config applied", "hash", shortHash(a.cfg.Hash))
}

// rollback restores the previous config file and returns the previous
// config, to be run next.
func (r *Runner) rollback(t *trial, reason string) *config.Config {
	log := r.log()
	log.Error("config rolled back", "rejected", shortHash(t.hash), "reason", reason)
	if err := t.restore(); err != nil {
		log.Error("previous config file not restored; the running config is the previous one", "err", err)
	}
	r.setStatus(ConfigStatus{Hash: t.prev.Hash, State: "rolled_back", RolledBack: time.Now().UnixMilli(),
		RejectedCfg: t.hash, Reason: reason})
	return t.prev
}

func (r *Runner) setStatus(s ConfigStatus) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.status, r.announced = s, false
}

// firstReport reports whether the current rollback is reported for the
// first time (the event is sent once; the warning by every agent).
func (r *Runner) firstReport() bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	first := !r.announced
	r.announced = true
	return first
}

func (r *Runner) configStatus() ConfigStatus {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.status
}

// configStatus is the status block of the running config.
func (a *Agent) configStatus() *ConfigStatus {
	if a.m.run == nil {
		return nil
	}
	cs := a.m.run.r.configStatus()
	return &cs
}

// announceRollback is run at start by an agent that replaced a rejected
// config: the event and the warning say what happened.
func (a *Agent) announceRollback() {
	cs := a.configStatus()
	if cs == nil || cs.State != "rolled_back" {
		return
	}
	msg := fmt.Sprintf("config %s rolled back to %s: %s", shortHash(cs.RejectedCfg), shortHash(cs.Hash), cs.Reason)
	a.m.health.Set(WarnConfigRolledBack, SevWarning, msg)
	if a.m.run.r.firstReport() {
		a.event(wire.Event{Type: wire.TypeAgent, State: "config_rolled_back", Version: a.opts.Version, Detail: msg})
	}
}

// alive reports whether the agent's main loops made progress recently:
// the forwarder (it calls the sink at least every minute) and every
// device's source (a scan, failed or not, at least every few intervals;
// a restart back-off is at most a minute; a subscribing source emits an
// empty scan after each health check). Progress is measured on the agent
// clock, which the loops use for their own timers.
func (a *Agent) alive() error {
	now := a.clock.Now()
	m := a.m.met
	fwdLimit := 2*max(time.Minute, a.cfg.Platform.MQTT.ReconnectMax.D()) + a.cfg.Platform.MQTT.ConnectTimeout.D()
	if now.Sub(time.Unix(0, max(m.fwdBeat.Load(), a.started.UnixNano()))) > fwdLimit && now.Sub(a.started) > fwdLimit {
		return errors.New("forwarder loop silent for more than " + fwdLimit.String())
	}
	for id, d := range m.devices {
		limit := 5*max(d.interval, time.Second) + 3*time.Minute
		last := d.lastScan.Load()
		if last == 0 {
			last = a.started.UnixNano()
		}
		if now.Sub(time.Unix(0, last)) > limit {
			return fmt.Errorf("device %s: no scan for more than %s", id, limit)
		}
	}
	return nil
}
