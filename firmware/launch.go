package firmware

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"syscall"
	"time"
)

// Environment the launcher gives the binary it starts; Commit and
// TrialState read it.
const (
	EnvDir     = "CANARY_FIRMWARE_DIR"
	EnvSlot    = "CANARY_FIRMWARE_SLOT" // a, b or base
	EnvVersion = "CANARY_FIRMWARE_VERSION"
)

// Launcher defaults.
const (
	DefaultWindow   = 5 * time.Minute
	DefaultMaxBoots = 3
	DefaultGrace    = 10 * time.Second
)

// Launcher starts the active slot. systemd runs it (`canary firmware
// boot -- run -c FILE`) from the base binary, which updates never
// replace. Outside a trial it execs the active binary in its own place
// (same PID, nothing stays behind). In a trial it stays as the parent:
// it counts the boot in the state, starts the new version, and restores
// the previous slot if the child does not commit within Window or after
// MaxBoots starts without a commit.
type Launcher struct {
	Dir         string        // firmware directory
	Base        string        // the base binary; "" → os.Executable()
	BaseVersion string        // its version
	Args        []string      // arguments for the started binary, e.g. run -c FILE
	Window      time.Duration // 0 → DefaultWindow: time a trial boot has to commit
	MaxBoots    int           // 0 → DefaultMaxBoots: trial starts before rollback
	Grace       time.Duration // 0 → DefaultGrace: SIGTERM to SIGKILL of a failed trial
	Poll        time.Duration // 0 → 250ms: how often the parent looks for the commit
	Log         *slog.Logger  // nil → discard
	Notify      Notify

	// Exec replaces the process with the binary; nil → syscall.Exec.
	Exec func(path string, argv, env []string) error
}

// Plan is what the next start runs.
type Plan struct {
	Path    string
	Slot    string // SlotA, SlotB or SlotBase
	Version string
	Trial   bool
	Boots   int
}

// Next decides what a start runs and records it: a trial boot is
// counted, and a slot whose trial has failed too often, or whose binary
// is missing or damaged, is replaced by the previous slot (or the base
// binary). It never returns a plan without a complete binary.
func (l *Launcher) Next() (Plan, error) {
	s := store{l.Dir}
	if err := s.init(); err != nil {
		return Plan{}, err
	}
	var p Plan
	var evs []Event
	err := s.update(func(st *State) (bool, error) {
		changed := l.repair(s, st)
		if st.Trial {
			st.Boots++
			changed = true
			if st.Boots > l.maxBoots() {
				st.rollback(fmt.Sprintf("no commit after %d starts", st.Boots-1), l.BaseVersion, l.slotOK(s, st, st.Previous, true))
			} else {
				st.addEvent(Event{Kind: Trial, Version: st.version(st.Active, l.BaseVersion), Slot: st.Active, Boots: st.Boots})
			}
		}
		if changed {
			evs = st.Events
		}
		p = l.plan(s, st)
		return changed, nil
	})
	if errors.Is(err, ErrMalformed) {
		return l.reset(s, err)
	}
	l.notifyLast(evs)
	return p, err
}

// repair falls back when the active binary is not the one recorded.
func (l *Launcher) repair(s store, st *State) bool {
	if st.Active == SlotBase || l.slotOK(s, st, st.Active, st.Trial) {
		return false
	}
	prevOK := st.Trial && l.slotOK(s, st, st.Previous, true)
	st.rollback("slot "+st.Active+" binary missing or damaged", l.BaseVersion, prevOK)
	return true
}

// reset starts over from the base binary when the state is unreadable.
func (l *Launcher) reset(s store, cause error) (Plan, error) {
	st := &State{Format: 1, Slots: map[string]SlotInfo{}}
	st.addEvent(Event{Kind: RolledBack, From: l.BaseVersion, Reason: cause.Error()})
	if err := s.save(st); err != nil {
		return Plan{}, err
	}
	l.log().Error("firmware state unreadable; starting the base binary", "err", cause)
	return l.plan(s, st), nil
}

func (l *Launcher) plan(s store, st *State) Plan {
	p := Plan{Slot: st.Active, Version: st.version(st.Active, l.BaseVersion), Trial: st.Trial, Boots: st.Boots}
	p.Path = l.base()
	if st.Active != SlotBase {
		p.Path = s.binary(st.Active)
	}
	return p
}

// slotOK checks that the slot's binary is the recorded one: its size
// always, its hash when full.
func (l *Launcher) slotOK(s store, st *State, slot string, full bool) bool {
	if slot == SlotBase {
		return true
	}
	info, ok := st.Slots[slot]
	if !ok {
		return false
	}
	fi, err := os.Stat(s.binary(slot))
	if err != nil || fi.Size() != info.Size {
		return false
	}
	return !full || fileSHA256(s.binary(slot)) == info.SHA256
}

func fileSHA256(path string) string {
	f, err := os.Open(path)
	if err != nil {
		return ""
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return ""
	}
	return hex.EncodeToString(h.Sum(nil))
}

// rollback makes Previous (or, if it is not usable, the base binary)
// active again and forgets the failed slot.
func (st *State) rollback(reason, baseVersion string, previousOK bool) {
	failed, to := st.Active, st.Previous
	if !st.Trial || !previousOK {
		to = SlotBase
	}
	st.addEvent(Event{Kind: RolledBack, Version: st.version(failed, baseVersion),
		From: st.version(to, baseVersion), Slot: to, Reason: reason})
	delete(st.Slots, failed)
	st.Active, st.Previous, st.Trial, st.Boots = to, "", false, 0
}

func (l *Launcher) notifyLast(evs []Event) {
	if len(evs) > 0 {
		l.Notify.send(evs[len(evs)-1])
	}
}

// Run starts the active version and returns its exit code. Outside a
// trial it does not return on success: the process becomes that binary.
func (l *Launcher) Run(ctx context.Context) (int, error) {
	for {
		p, err := l.Next()
		if err != nil {
			return 1, err
		}
		if !p.Trial {
			err := l.exec(p) // returns only on failure (or from a test's Exec)
			if err == nil || p.Slot == SlotBase {
				return 0, err
			}
			l.unusable(p, err) // then start what it fell back to
			continue
		}
		hook(StepTrial)
		l.log().Info("firmware trial", "version", p.Version, "slot", p.Slot, "boot", p.Boots, "window", l.window())
		code, final := l.supervise(ctx, p)
		if final || ctx.Err() != nil {
			return code, nil
		}
	}
}

func (l *Launcher) exec(p Plan) error {
	argv := append([]string{p.Path}, l.Args...)
	ex := l.Exec
	if ex == nil {
		ex = syscall.Exec
	}
	if err := ex(p.Path, argv, l.env(p)); err != nil {
		return fmt.Errorf("firmware: exec %s: %w", p.Path, err)
	}
	return nil
}

func (l *Launcher) env(p Plan) []string {
	slot := p.Slot
	if slot == SlotBase {
		slot = "base"
	}
	return append(os.Environ(), EnvDir+"="+l.Dir, EnvSlot+"="+slot, EnvVersion+"="+p.Version)
}

// supervise runs a trial child. final is false when the trial failed
// (crash or window) and Run must decide again.
func (l *Launcher) supervise(ctx context.Context, p Plan) (code int, final bool) {
	cmd := exec.Command(p.Path, l.Args...)
	cmd.Stdin, cmd.Stdout, cmd.Stderr, cmd.Env = os.Stdin, os.Stdout, os.Stderr, l.env(p)
	if err := cmd.Start(); err != nil {
		l.log().Error("firmware trial: cannot start", "version", p.Version, "err", err)
		return 1, false
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	window := time.NewTimer(l.window())
	defer window.Stop()
	poll := time.NewTicker(l.poll())
	defer poll.Stop()
	stop := ctx.Done()
	committed, stopping := false, false
	for {
		select {
		case <-done:
			code = cmd.ProcessState.ExitCode()
			if committed || stopping || l.committed(p) {
				return code, true
			}
			l.log().Error("firmware trial: exited before commit", "version", p.Version, "code", code)
			return code, false
		case <-poll.C:
			if !committed && l.committed(p) {
				committed = true
				window.Stop()
				l.log().Info("firmware trial committed", "version", p.Version)
			}
		case <-window.C:
			if l.expire(p) {
				l.terminate(cmd, done)
				return 1, false
			}
			committed = true
		case <-stop:
			stop, stopping = nil, true
			_ = cmd.Process.Signal(syscall.SIGTERM)
		}
	}
}

// committed reports whether p's slot left trial by committing.
func (l *Launcher) committed(p Plan) bool {
	st, err := store{l.Dir}.read()
	return err == nil && st.Active == p.Slot && !st.Trial
}

// expire rolls back p's trial if it is still on; false means the child
// committed just in time.
func (l *Launcher) expire(p Plan) bool {
	s := store{l.Dir}
	rolled := false
	var ev Event
	err := s.update(func(st *State) (bool, error) {
		if !st.Trial || st.Active != p.Slot {
			return false, nil
		}
		st.rollback(fmt.Sprintf("not healthy within %s", l.window()), l.BaseVersion, l.slotOK(s, st, st.Previous, true))
		rolled, ev = true, st.Events[len(st.Events)-1]
		return true, nil
	})
	if err != nil {
		l.log().Error("firmware trial: rollback", "err", err)
		return false
	}
	if rolled {
		l.log().Error("firmware trial failed; rolling back", "version", p.Version, "to", ev.From)
		l.Notify.send(ev)
	}
	return rolled
}

// unusable rolls back from a committed slot whose binary cannot start.
func (l *Launcher) unusable(p Plan, cause error) {
	s := store{l.Dir}
	err := s.update(func(st *State) (bool, error) {
		if st.Active != p.Slot {
			return false, nil
		}
		st.rollback(cause.Error(), l.BaseVersion, false)
		return true, nil
	})
	l.log().Error("firmware: active version cannot start; falling back to the base binary", "err", cause, "state_err", err)
}

func (l *Launcher) terminate(cmd *exec.Cmd, done <-chan error) {
	_ = cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-done:
	case <-time.After(l.grace()):
		_ = cmd.Process.Kill()
		<-done
	}
}

func (l *Launcher) base() string {
	if l.Base != "" {
		return l.Base
	}
	exe, err := os.Executable()
	if err != nil {
		return os.Args[0]
	}
	return exe
}

func (l *Launcher) window() time.Duration { return orDefault(l.Window, DefaultWindow) }
func (l *Launcher) grace() time.Duration  { return orDefault(l.Grace, DefaultGrace) }
func (l *Launcher) poll() time.Duration   { return orDefault(l.Poll, 250*time.Millisecond) }

func (l *Launcher) maxBoots() int {
	if l.MaxBoots <= 0 {
		return DefaultMaxBoots
	}
	return l.MaxBoots
}

func (l *Launcher) log() *slog.Logger {
	if l.Log == nil {
		return slog.New(slog.DiscardHandler)
	}
	return l.Log
}

func orDefault(d, def time.Duration) time.Duration {
	if d <= 0 {
		return def
	}
	return d
}
