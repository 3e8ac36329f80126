package firmware

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"time"
)

// Step names a point of the update state machine; the crash tests kill
// the process at each one.
type Step string

// Steps, in order.
const (
	StepDownload Step = "download" // part of the bundle is in incoming/
	StepVerify   Step = "verify"   // manifest and signature accepted, no payload byte written
	StepInstall  Step = "install"  // payload partly written to the slot's temp file
	StepSwitch   Step = "switch"   // slot complete and recorded, pointer not switched yet
	StepTrial    Step = "trial"    // launcher counted a trial boot, new version not started yet
	StepCommit   Step = "commit"   // commit holds the lock, state not written yet
)

// hook is called at each step; tests replace it to block there.
var hook = func(Step) {}

// Installer verifies bundles and installs them into the inactive slot of
// a firmware directory.
type Installer struct {
	Dir         string // firmware directory, e.g. /var/lib/canary/firmware
	Policy      Policy // Current is taken from the state when empty
	BaseVersion string // version of the base binary, the active one before any install
	Notify      Notify
}

// Install reads a bundle from r, verifies it, streams the payload into
// the inactive slot while hashing it, and only when length and hash match
// records the slot and switches the pointer to it, in trial. The new
// version runs at the next start through the launcher. Every refusal is a
// *RejectError and leaves the active version as it was.
func (in *Installer) Install(ctx context.Context, r io.Reader) (*Manifest, error) {
	s := store{in.Dir}
	if err := s.init(); err != nil {
		return nil, err
	}
	unlock, err := lockPath(s.path(installLock), false)
	if err != nil {
		return nil, fmt.Errorf("firmware: another install is running: %w", err)
	}
	defer unlock()
	m, err := in.install(ctx, s, r)
	if err != nil {
		var rej *RejectError
		if errors.As(err, &rej) {
			in.reject(s, rej)
		}
		return nil, err
	}
	return m, nil
}

func (in *Installer) install(ctx context.Context, s store, r io.Reader) (*Manifest, error) {
	st, err := s.read()
	if err != nil {
		return nil, err
	}
	if st.Trial {
		return nil, fmt.Errorf("%w: version %s is on trial; wait for commit or rollback", ErrBusy, st.version(st.Active, in.BaseVersion))
	}
	pol := in.Policy
	if pol.Current == "" {
		pol.Current = st.version(st.Active, in.BaseVersion)
	}
	h, err := ReadHeader(r)
	if err != nil {
		return nil, &RejectError{Err: err}
	}
	if err := pol.Check(h); err != nil {
		return nil, err
	}
	hook(StepVerify)
	slot, err := in.forgetInactive(s)
	if err != nil {
		return nil, err
	}
	if err := in.writeSlot(ctx, s, slot, h.Manifest, r); err != nil {
		return nil, err
	}
	return h.Manifest, in.switchTo(s, slot, h.Manifest)
}

// forgetInactive drops the inactive slot from the state before its file
// is touched, so a crash mid-write never leaves a slot marked complete.
func (in *Installer) forgetInactive(s store) (string, error) {
	var slot string
	err := s.update(func(st *State) (bool, error) {
		if st.Trial {
			return false, fmt.Errorf("%w: a trial started meanwhile", ErrBusy)
		}
		slot = st.inactive()
		_, had := st.Slots[slot]
		delete(st.Slots, slot)
		st.Previous = ""
		return had, nil
	})
	return slot, err
}

// writeSlot streams the payload to slots/<slot>/canary.tmp, fsyncs it and
// renames it over the slot binary only if length and hash are right.
func (in *Installer) writeSlot(ctx context.Context, s store, slot string, m *Manifest, r io.Reader) error {
	bin := s.binary(slot)
	tmp := bin + ".tmp"
	f, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o755)
	if err != nil {
		return fmt.Errorf("firmware: %w", err)
	}
	defer os.Remove(tmp) // a no-op after the rename
	first := true
	err = CopyPayload(f, ctxReader{ctx, r}, m, func(int64) {
		if first {
			first = false
			hook(StepInstall)
		}
	})
	if err == nil {
		err = syncClose(f)
	} else {
		f.Close()
	}
	if err != nil {
		if errorsIsAny(err, ErrTruncated, ErrTrailing, ErrHash) {
			return &RejectError{Version: m.Version, Err: err}
		}
		return err
	}
	return renameSync(tmp, bin)
}

// switchTo records the complete slot, then points Active at it in trial.
func (in *Installer) switchTo(s store, slot string, m *Manifest) error {
	info := SlotInfo{Version: m.Version, SHA256: m.Payload.SHA256, Size: m.Payload.Size, Installed: time.Now().UTC()}
	if err := s.update(func(st *State) (bool, error) { st.Slots[slot] = info; return true, nil }); err != nil {
		return err
	}
	hook(StepSwitch)
	var ev Event
	err := s.update(func(st *State) (bool, error) {
		ev = Event{Kind: Installed, Version: m.Version, From: st.version(st.Active, in.BaseVersion), Slot: slot}
		st.Previous, st.Active, st.Trial, st.Boots = st.Active, slot, true, 0
		st.addEvent(ev)
		return true, nil
	})
	if err == nil {
		in.Notify.send(ev)
	}
	return err
}

// reject tells the callback and records the refusal for the agent.
func (in *Installer) reject(s store, rej *RejectError) {
	ev := Event{Kind: Rejected, Version: rej.Version, Reason: rej.Reason()}
	_ = s.update(func(st *State) (bool, error) { st.addEvent(ev); return true, nil })
	in.Notify.send(ev)
}

// InstallFile installs the bundle at path.
func (in *Installer) InstallFile(ctx context.Context, path string) (*Manifest, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("firmware: %w", err)
	}
	defer f.Close()
	return in.Install(ctx, f)
}

type ctxReader struct {
	ctx context.Context
	r   io.Reader
}

func (c ctxReader) Read(p []byte) (int, error) {
	if err := c.ctx.Err(); err != nil {
		return 0, err
	}
	return c.r.Read(p)
}
