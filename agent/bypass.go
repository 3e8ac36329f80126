package agent

import (
	"context"
	"path/filepath"
	"time"

	"canary/agent/wire"
	"canary/buffer"
)

// bypassCheck is how often bypasses are checked against the agent clock.
const bypassCheck = time.Second

// watchBypasses raises `overdue` for bypasses that outlast max_bypass
// while their source sends nothing new (a dead link, a slow poll), driven
// by the agent's clock. It returns when ctx ends.
func (a *Agent) watchBypasses(ctx context.Context) {
	t := a.clock.NewTicker(bypassCheck)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C():
			a.checkBypasses()
		}
	}
}

func (a *Agent) checkBypasses() {
	now := a.clock.Now()
	evs := a.pipe.overdue(now)
	if len(evs) == 0 {
		return
	}
	a.append([]buffer.Record{{Lane: buffer.LaneEvent, Boot: a.boot, Created: now,
		Payload: wire.AppendEvents(nil, a.historical(), evs)}})
	a.saveState()
}

// saveState writes the safety state file after a change; on failure the
// next change or check tries again.
func (a *Agent) saveState() {
	if err := a.pipe.save(a.clock.Now()); err != nil {
		a.log.Error("safety state not saved", "err", err)
	}
}

// openState loads the safety state from state_dir; without one, a restart
// may repeat `active` events and miss `cleared` ones, so say so.
func (a *Agent) openState() {
	if a.cfg.StateDir == "" {
		a.log.Warn("no state_dir: active alarms, bypasses and faults are not kept across restarts")
		return
	}
	if err := a.pipe.openState(filepath.Join(a.cfg.StateDir, StateFile)); err != nil {
		a.log.Error("safety state not loaded; starting from nothing active", "err", err)
	}
}
