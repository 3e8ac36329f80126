package agent

import (
	"context"
	"errors"
	"sync"
	"time"

	"canary/agent/wire"
	"canary/buffer"
	"canary/firmware"
)

// Firmware is the agent's part in firmware updates. main.go sets
// firmware.Process, which reads what the launcher (`canary firmware
// boot`) put in the environment; tests set fakes. With none the agent
// has no trial to commit, publishes no firmware events and refuses
// firmware.update.
type Firmware interface {
	// State is how the launcher started this process.
	State() (firmware.Status, error)
	// Commit ends this version's trial: it stays.
	Commit() error
	// Events lists the recorded events not yet published, without
	// forgetting them; Forget drops them once they are in the outbox.
	Events() ([]firmware.Event, error)
	Forget(evs []firmware.Event) error
	// Install verifies and installs a bundle into the inactive slot.
	Install(ctx context.Context, u firmware.Update) (*firmware.Manifest, error)
}

// fwRetryEvery is how often a failed commit or event publish is retried.
const fwRetryEvery = 5 * time.Second

// fwLink is one agent's link to its Firmware. It commits a trial once
// the agent is healthy (config loaded, sources started, and the uplink's
// first birth acknowledged) and publishes recorded firmware events: at
// start, after a commit and after each install.
//
// Events are at least once: they are forgotten only after the outbox
// append that holds them returned, so a crash in between publishes them
// again (same fields, new id), never loses them.
type fwLink struct {
	a     *Agent
	fw    Firmware
	ready chan struct{} // a birth was acknowledged

	pub sync.Mutex // one publish at a time

	mu      sync.Mutex
	state   firmware.Status
	stErr   error // why state could not be read
	update  *UpdateStatus
	retryEv bool   // the last publish could not write: try again
	newSlot string // where the running update installed
}

// FirmwareStatus is the firmware block of status.
type FirmwareStatus struct {
	Launched bool          `json:"launched"` // started by `canary firmware boot`
	Slot     string        `json:"slot,omitempty"`
	Version  string        `json:"version,omitempty"`
	Trial    bool          `json:"trial"` // not committed yet
	Boots    int           `json:"boots,omitempty"`
	Update   *UpdateStatus `json:"update,omitempty"` // the last firmware.update of this agent
}

// UpdateStatus is a firmware.update's progress.
type UpdateStatus struct {
	State   string `json:"state"` // downloading, installing, installed, rejected, failed
	Done    int64  `json:"done,omitempty"`
	Total   int64  `json:"total,omitempty"` // 0: not known yet
	Version string `json:"version,omitempty"`
	Error   string `json:"error,omitempty"`
	Since   int64  `json:"since"` // Unix ms this state began
}

func newFWLink(a *Agent) *fwLink {
	if a.opts.Firmware == nil {
		return nil
	}
	return &fwLink{a: a, fw: a.opts.Firmware, ready: make(chan struct{}, 1)}
}

// run publishes pending events, then commits the trial at the first
// birth, retrying what failed, until ctx ends.
func (f *fwLink) run(ctx context.Context) {
	f.refresh()
	f.publish()
	t := f.a.clock.NewTicker(fwRetryEvery)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-f.ready:
			f.commit()
		case <-t.C():
			if up, _, _ := f.a.fwd.link(); up {
				f.commit()
			}
			f.mu.Lock()
			again := f.retryEv
			f.mu.Unlock()
			if again {
				f.publish()
			}
		}
	}
}

// uplinkReady is called on the forwarder's goroutine after each birth.
func (f *fwLink) uplinkReady() {
	select {
	case f.ready <- struct{}{}:
	default:
	}
}

// refresh rereads how this process was started.
func (f *fwLink) refresh() firmware.Status {
	st, err := f.fw.State()
	if err != nil {
		f.a.log.Error("firmware: state unreadable", "err", err)
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.state, f.stErr = st, err
	return st
}

func (f *fwLink) commit() {
	f.mu.Lock()
	trial := f.state.Trial
	f.mu.Unlock()
	if !trial {
		return
	}
	err := f.fw.Commit()
	st := f.refresh()
	switch {
	case errors.Is(err, firmware.ErrRolledBack):
		f.a.log.Error("firmware: committed too late; the launcher has rolled back and stops this version", "err", err)
	case err != nil:
		f.a.log.Warn("firmware: commit failed; retrying", "err", err, "retry_in", fwRetryEvery)
	default:
		f.a.log.Info("firmware committed", "version", st.Version, "slot", slotName(st.Slot))
		f.a.m.health.Touch() // status says trial false without waiting
		f.publish()
	}
}

// publish appends the pending events to the outbox and only then
// forgets them.
func (f *fwLink) publish() {
	f.pub.Lock()
	defer f.pub.Unlock()
	evs, err := f.fw.Events()
	if err == nil && len(evs) > 0 {
		err = f.a.appendDurable(f.a.fwRecord(evs))
	}
	f.mu.Lock()
	f.retryEv = err != nil
	f.mu.Unlock()
	if err != nil {
		f.a.log.Warn("firmware: events not published yet; retrying", "err", err, "retry_in", fwRetryEvery)
		return
	}
	if err := f.fw.Forget(evs); err != nil {
		f.a.log.Warn("firmware: events published but not forgotten; they will be published again", "err", err)
	}
}

// fwRecord is one event record holding evs, each stamped when it
// happened (possibly in the launcher or another process).
func (a *Agent) fwRecord(evs []firmware.Event) []buffer.Record {
	now := a.clock.Now()
	out := make([]wire.Event, 0, len(evs))
	for _, e := range evs {
		w := fwEvent(e)
		w.ID, w.TS = a.ids.next(), now.UnixMilli()
		if !e.Time.IsZero() {
			w.TS = e.Time.UnixMilli()
		}
		out = append(out, w)
	}
	return []buffer.Record{{Lane: buffer.LaneEvent, Boot: a.boot, Created: now,
		Payload: wire.AppendEvents(nil, a.historical(), out)}}
}

func fwEvent(e firmware.Event) wire.Event {
	w := wire.Event{Type: wire.TypeFirmware, State: string(e.Kind), Version: e.Version, From: e.From,
		Reason: e.Reason, Slot: e.Slot, Boots: e.Boots, Done: e.Done, Total: max(e.Total, 0)}
	if e.Kind == firmware.RolledBack {
		w.Slot = slotName(e.Slot) // back to the base binary says so
	}
	return w
}

func slotName(s string) string {
	if s == firmware.SlotBase {
		return "base"
	}
	return s
}

// appendDurable appends recs and reports whether they are in the outbox:
// unlike append, it does not hold them in memory while the disk fails,
// so the caller can keep its own durable copy until they are.
func (a *Agent) appendDurable(recs []buffer.Record) error {
	if a.out.failing.Load() {
		return errors.New("agent: outbox cannot write")
	}
	_, err := a.box.Append(recs)
	return err
}

// status is the firmware block of status.
func (f *fwLink) status() *FirmwareStatus {
	f.mu.Lock()
	defer f.mu.Unlock()
	st := f.state
	fs := &FirmwareStatus{Launched: st.Launched, Trial: st.Trial, Boots: st.Boots, Version: st.Version}
	if st.Launched {
		fs.Slot = slotName(st.Slot)
	}
	if f.update != nil {
		u := *f.update
		fs.Update = &u
	}
	return fs
}
