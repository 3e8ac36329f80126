package firmware

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"
)

// Slot names. The empty slot is the base binary the launcher itself is:
// it is never written by an update, so there is always a version to run.
const (
	SlotA    = "a"
	SlotB    = "b"
	SlotBase = ""
)

// BinaryName is the file name of the binary inside a slot.
const BinaryName = "canary"

const (
	stateFile   = "state.json"
	lockFile    = "lock"
	installLock = "install.lock"
	maxEvents   = 32
)

// State is the pointer file, state.json. It is the only record of which
// slot runs; it changes by write-temp, fsync, rename, fsync-dir, under
// the lock file, so a reader sees the old or the new state, never a mix.
type State struct {
	Format   int                 `json:"format"`
	Active   string              `json:"active"`             // slot the launcher starts
	Previous string              `json:"previous,omitempty"` // restored if Active's trial fails
	Trial    bool                `json:"trial,omitempty"`    // Active has not committed yet
	Boots    int                 `json:"boots,omitempty"`    // launches of Active in this trial
	Slots    map[string]SlotInfo `json:"slots,omitempty"`    // complete slots only
	Events   []Event             `json:"events,omitempty"`   // not yet taken by the agent
}

// SlotInfo identifies a complete, verified slot binary.
type SlotInfo struct {
	Version   string    `json:"version"`
	SHA256    string    `json:"sha256"`
	Size      int64     `json:"size"`
	Installed time.Time `json:"installed"`
}

// version of slot s; the base binary's is base.
func (st *State) version(s, base string) string {
	if s == SlotBase {
		return base
	}
	return st.Slots[s].Version
}

func (st *State) addEvent(e Event) {
	if e.Time.IsZero() {
		e.Time = time.Now().UTC()
	}
	st.Events = append(st.Events, e)
	if over := len(st.Events) - maxEvents; over > 0 {
		st.Events = st.Events[over:]
	}
}

// inactive is the slot an install writes: never the active one.
func (st *State) inactive() string {
	if st.Active == SlotA {
		return SlotB
	}
	return SlotA
}

// store is a firmware directory.
type store struct{ dir string }

func (s store) path(name ...string) string {
	return filepath.Join(append([]string{s.dir}, name...)...)
}

func (s store) binary(slot string) string { return s.path("slots", slot, BinaryName) }

// load reads the state; a missing file is the initial state (base
// binary active).
func (s store) load() (*State, error) {
	b, err := os.ReadFile(s.path(stateFile))
	if errors.Is(err, os.ErrNotExist) {
		return &State{Format: 1, Slots: map[string]SlotInfo{}}, nil
	}
	if err != nil {
		return nil, fmt.Errorf("firmware: state: %w", err)
	}
	var st State
	if err := json.Unmarshal(b, &st); err != nil || st.Format != 1 {
		return nil, fmt.Errorf("firmware: state %s: %w: unreadable (%v)", s.path(stateFile), ErrMalformed, err)
	}
	if st.Slots == nil {
		st.Slots = map[string]SlotInfo{}
	}
	return &st, nil
}

func (s store) save(st *State) error {
	b, err := json.MarshalIndent(st, "", "  ")
	if err != nil {
		return fmt.Errorf("firmware: state: %w", err)
	}
	return writeFileAtomic(s.path(stateFile), b, 0o644)
}

// update runs fn on the state under the lock and saves what it returns
// changed. fn sees a fresh copy, so a failed fn leaves no trace.
func (s store) update(fn func(st *State) (changed bool, err error)) error {
	unlock, err := lockPath(s.path(lockFile), true)
	if err != nil {
		return err
	}
	defer unlock()
	st, err := s.load()
	if err != nil {
		return err
	}
	changed, err := fn(st)
	if err == nil && changed {
		err = s.save(st)
	}
	return err
}

// read returns the state under the lock.
func (s store) read() (*State, error) {
	var out *State
	err := s.update(func(st *State) (bool, error) { out = st; return false, nil })
	return out, err
}

func (s store) init() error {
	for _, d := range []string{s.dir, s.path("slots", SlotA), s.path("slots", SlotB), s.path("incoming")} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			return fmt.Errorf("firmware: %w", err)
		}
	}
	return nil
}

// writeFileAtomic replaces path with data: temp file, fsync, rename,
// fsync of the directory.
func writeFileAtomic(path string, data []byte, mode os.FileMode) error {
	tmp := path + ".tmp"
	f, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, mode)
	if err != nil {
		return fmt.Errorf("firmware: %w", err)
	}
	if _, err := f.Write(data); err != nil {
		f.Close()
		return fmt.Errorf("firmware: %w", err)
	}
	if err := syncClose(f); err != nil {
		return fmt.Errorf("firmware: %w", err)
	}
	return renameSync(tmp, path)
}

func renameSync(from, to string) error {
	if err := os.Rename(from, to); err != nil {
		return fmt.Errorf("firmware: %w", err)
	}
	return syncDir(filepath.Dir(to))
}

func syncClose(f *os.File) error {
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("firmware: %w", err)
	}
	defer d.Close()
	if err := d.Sync(); err != nil {
		return fmt.Errorf("firmware: sync %s: %w", dir, err)
	}
	return nil
}
