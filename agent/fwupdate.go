package agent

import (
	"context"
	"encoding/json"
	"errors"
	"net/url"
	"path/filepath"

	"canary/agent/command"
	"canary/agent/wire"
	"canary/firmware"
)

// ReasonRejected is the reply reason of a firmware.update that will not
// install: the bundle was refused (signature, target, version, size,
// hash…), no key is trusted, or no launcher started this agent.
const ReasonRejected = "rejected"

type updateArgs struct {
	URL  string `json:"url"`
	Path string `json:"path"`
}

const updateUsage = `want {"url": "https://…"} or {"path": "/absolute/bundle.fwb"}, exactly one`

func parseUpdateArgs(args json.RawMessage) (updateArgs, error) {
	var v updateArgs
	if err := strictArgs(args, &v); err != nil || (v.URL == "") == (v.Path == "") {
		return v, badArgs(updateUsage)
	}
	if v.Path != "" && !filepath.IsAbs(v.Path) {
		return v, badArgs("path must be absolute: " + updateUsage)
	}
	if v.URL != "" {
		u, err := url.Parse(v.URL)
		if err != nil || u.Scheme != "https" || u.Host == "" {
			return v, badArgs("url must be https://host/…: a bundle is never fetched in the clear")
		}
	}
	return v, nil
}

// firmwareUpdate verifies and installs a bundle into the inactive slot,
// bounded by firmware.timeout and the agent's life, then (after the
// reply) makes the process exit so that its supervisor starts the
// launcher again, which runs the new version on trial. Without a
// launcher it refuses: an installed version would never run, and its
// pending trial would block later updates.
func (c *commander) firmwareUpdate(ctx context.Context, args json.RawMessage) (any, error) {
	a, f := c.a, c.a.fw
	req, err := parseUpdateArgs(args)
	if err != nil {
		return nil, err
	}
	if f == nil {
		return nil, &command.Refusal{Reason: command.ReasonFailed, Msg: "this agent was built without firmware updates"}
	}
	st := f.refresh()
	switch {
	case f.stateErr() != nil:
		return nil, &command.Refusal{Reason: command.ReasonFailed, Msg: f.stateErr().Error()}
	case !st.Launched:
		return nil, f.refuse("not started by the launcher (canary firmware boot): an installed version would never run")
	case st.Trial:
		return nil, &command.Refusal{Reason: command.ReasonBusy, Msg: "version " + st.Version + " is on trial; wait for its commit or rollback"}
	}
	ctx, cancel := context.WithTimeout(ctx, a.cfg.Firmware.Timeout.D())
	defer cancel()
	first := "installing"
	if req.URL != "" {
		first = "downloading"
	}
	f.setUpdate(UpdateStatus{State: first})
	m, err := f.fw.Install(ctx, firmware.Update{Dir: st.Dir, KeysFile: a.cfg.Firmware.KeysFile,
		MaxBytes: int64(a.cfg.Firmware.MaxBytes), Running: a.opts.Version, URL: req.URL, Path: req.Path,
		Progress: f.progress, Notify: f.notify})
	f.publish() // installed or rejected, as the install recorded it
	if err != nil {
		return nil, f.failed(ctx, err)
	}
	f.setUpdate(UpdateStatus{State: "installed", Version: m.Version})
	return map[string]any{"state": "installed", "version": m.Version, "from": a.opts.Version,
		"slot": f.slot(), "manifest": m, "restart": c.exitForFirmware(m.Version)}, nil
}

// exitForFirmware arranges the exit after the reply and says what
// happens next.
func (c *commander) exitForFirmware(version string) string {
	run := c.a.m.run
	if run == nil {
		return "needed: this agent has no supervisor; restart it through canary firmware boot"
	}
	c.after = func() {
		c.a.log.Warn("exiting so that the launcher starts the new firmware on trial", "version", version)
		run.exit()
	}
	return "exiting; the launcher starts " + version + " on trial"
}

// refuse reports a refusal that no install recorded.
func (f *fwLink) refuse(reason string) error {
	f.setUpdate(UpdateStatus{State: "rejected", Error: reason})
	f.a.event(wire.Event{Type: wire.TypeFirmware, State: string(firmware.Rejected), Reason: reason})
	return &command.Refusal{Reason: ReasonRejected, Msg: reason}
}

// failed turns an install error into the reply's refusal.
func (f *fwLink) failed(ctx context.Context, err error) error {
	var rej *firmware.RejectError
	switch {
	case errors.As(err, &rej):
		f.setUpdate(UpdateStatus{State: "rejected", Version: rej.Version, Error: rej.Reason()})
		return &command.Refusal{Reason: ReasonRejected, Msg: err.Error()}
	case errors.Is(err, firmware.ErrBusy):
		f.setUpdate(UpdateStatus{State: "failed", Error: err.Error()})
		return &command.Refusal{Reason: command.ReasonBusy, Msg: err.Error()}
	case errors.Is(ctx.Err(), context.DeadlineExceeded):
		msg := "firmware.timeout " + f.a.cfg.Firmware.Timeout.String() + " passed (a download resumes with the next command): " + err.Error()
		f.setUpdate(UpdateStatus{State: "failed", Error: msg})
		return &command.Refusal{Reason: command.ReasonFailed, Msg: msg}
	}
	f.setUpdate(UpdateStatus{State: "failed", Error: err.Error()})
	return &command.Refusal{Reason: command.ReasonFailed, Msg: err.Error()}
}

// notify receives the update's events as they happen. Installs and
// refusals are also recorded in the state and published from there;
// the download's start and end are only told here.
func (f *fwLink) notify(e firmware.Event) {
	switch e.Kind {
	case firmware.Installed:
		f.mu.Lock()
		f.newSlot = e.Slot
		f.mu.Unlock()
	case firmware.Downloading:
		f.a.event(fwEvent(e))
		if e.Total > 0 && e.Done == e.Total {
			f.setUpdate(UpdateStatus{State: "installing", Done: e.Done, Total: e.Total})
		}
	}
}

// progress runs for each downloaded chunk: status shows it, republished
// at most every statusMinGap.
func (f *fwLink) progress(done, total int64) {
	f.mu.Lock()
	if u := f.update; u != nil && u.State == "downloading" {
		u.Done, u.Total = done, max(total, 0)
	}
	f.mu.Unlock()
	f.a.m.health.Touch()
}

func (f *fwLink) setUpdate(u UpdateStatus) {
	u.Since = f.a.clock.Now().UnixMilli()
	f.mu.Lock()
	f.update = &u
	f.mu.Unlock()
	f.a.m.health.Touch()
}

func (f *fwLink) stateErr() error {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.stErr
}

func (f *fwLink) slot() string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.newSlot
}
