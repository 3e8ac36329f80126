package drivers

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sort"

	"canary/agent/clock"
	"canary/config"
)

// Source reads one field bus (one connection, one serial line) on behalf of
// one or more configured devices. Run owns the connection: it is the only
// goroutine that touches it. It emits a Scan per device poll until ctx is
// done, then closes the connection and returns nil. A non-nil error means the
// source cannot go on (the agent restarts it with back-off); communication
// failures are not errors of Run, they are Bad scans.
type Source interface {
	Run(ctx context.Context, emit func(Scan)) error
}

// Env is what a driver gets from the agent.
type Env struct {
	Clock    clock.Clock
	Log      *slog.Logger
	StateDir string
}

// Driver opens sources for every configured device of its kind. It groups
// devices that share a bus into one Source. Open does no I/O: connections
// are made in Run.
type Driver interface {
	Open(devices []config.Device, env Env) ([]Source, error)
}

// DriverFunc adapts a function to Driver.
type DriverFunc func(devices []config.Device, env Env) ([]Source, error)

func (f DriverFunc) Open(d []config.Device, env Env) ([]Source, error) { return f(d, env) }

// ErrUnknownDriver is returned by Registry.Open for a name nobody registered.
var ErrUnknownDriver = errors.New("drivers: unknown driver")

// Registry maps driver names (config `driver:`) to drivers. The zero value
// is empty and ready; it is a value so tests can hold only fakes.
type Registry struct {
	m map[string]Driver
}

// Register adds or replaces a driver.
func (r *Registry) Register(name string, d Driver) {
	if r.m == nil {
		r.m = map[string]Driver{}
	}
	r.m[name] = d
}

// Names lists registered drivers, sorted.
func (r *Registry) Names() []string {
	var out []string
	for n := range r.m {
		out = append(out, n)
	}
	sort.Strings(out)
	return out
}

// Open groups devices by driver and opens their sources.
func (r *Registry) Open(devices []config.Device, env Env) ([]Source, error) {
	byDriver := map[string][]config.Device{}
	var order []string
	for _, d := range devices {
		if _, ok := byDriver[d.Driver]; !ok {
			order = append(order, d.Driver)
		}
		byDriver[d.Driver] = append(byDriver[d.Driver], d)
	}
	var out []Source
	for _, name := range order {
		drv, ok := r.m[name]
		if !ok {
			return nil, fmt.Errorf("%w %q", ErrUnknownDriver, name)
		}
		srcs, err := drv.Open(byDriver[name], env)
		if err != nil {
			return nil, err
		}
		out = append(out, srcs...)
	}
	return out, nil
}
