package firmware

import (
	"context"
	"net/http"
)

// Process is firmware as the running agent sees it: how the launcher
// started it, its commit, the events to publish and remote installs.
// main.go gives one to the agent; the agent's tests give it fakes.
type Process struct {
	Client *http.Client // downloads; nil → http.DefaultClient
}

// State is TrialState.
func (Process) State() (Status, error) { return TrialState() }

// Commit is Commit.
func (Process) Commit() error { return Commit() }

// Events lists the pending events of the launcher's directory (none when
// the launcher did not start this process); Forget drops them once
// published.
func (Process) Events() ([]Event, error) {
	dir, _, ok := launchedEnv()
	if !ok {
		return nil, nil
	}
	return PendingEvents(dir)
}

// Forget is ForgetEvents on the launcher's directory.
func (Process) Forget(evs []Event) error {
	dir, _, ok := launchedEnv()
	if !ok {
		return nil
	}
	return ForgetEvents(dir, evs)
}

// Install runs u, downloading with p.Client unless u has its own.
func (p Process) Install(ctx context.Context, u Update) (*Manifest, error) {
	if u.Client == nil {
		u.Client = p.Client
	}
	return u.Run(ctx)
}
