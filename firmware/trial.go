package firmware

import (
	"fmt"
	"os"
)

// Status is how the running process was started.
type Status struct {
	Launched bool   // started by the launcher; false: nothing below applies
	Dir      string // firmware directory
	Slot     string // SlotA, SlotB or SlotBase
	Version  string // the slot's version, as installed
	Trial    bool   // on trial: Commit once healthy, or be rolled back
	Boots    int    // trial starts so far, this one included
}

// TrialState reports whether this process runs a version on trial. A
// process the launcher did not start has Launched false and no error.
func TrialState() (Status, error) {
	dir, slot, ok := launchedEnv()
	if !ok {
		return Status{}, nil
	}
	st, err := store{dir}.read()
	if err != nil {
		return Status{}, err
	}
	s := Status{Launched: true, Dir: dir, Slot: slot, Version: os.Getenv(EnvVersion)}
	if st.Active == slot {
		s.Trial, s.Boots = st.Trial, st.Boots
	}
	return s, nil
}

// Commit declares the running version healthy: the launcher stops
// watching it and it stays. The agent calls it once the config is
// loaded, the sources are started and the uplink is connected. It is a
// no-op for a version not on trial or not started by the launcher, and
// safe to call more than once. ErrRolledBack means too late: the launcher
// has restored the previous version and is stopping this one.
func Commit() error {
	dir, slot, ok := launchedEnv()
	if !ok {
		return nil
	}
	return commit(dir, slot)
}

func commit(dir, slot string) error {
	return store{dir}.update(func(st *State) (bool, error) {
		if st.Active != slot {
			return false, fmt.Errorf("%w: slot %q is not active", ErrRolledBack, slot)
		}
		if !st.Trial {
			return false, nil
		}
		hook(StepCommit)
		st.addEvent(Event{Kind: Committed, Version: st.Slots[slot].Version, Slot: slot, Boots: st.Boots})
		st.Trial, st.Boots, st.Previous = false, 0, ""
		return true, nil
	})
}

// TakeEvents returns the firmware events recorded since the last call
// (by installs, the launcher and commits, possibly in other processes)
// and forgets them; the agent publishes them as `firmware` events.
func TakeEvents() ([]Event, error) {
	dir, _, ok := launchedEnv()
	if !ok {
		return nil, nil
	}
	return takeEvents(dir)
}

func takeEvents(dir string) ([]Event, error) {
	var evs []Event
	err := store{dir}.update(func(st *State) (bool, error) {
		evs, st.Events = st.Events, nil
		return len(evs) > 0, nil
	})
	return evs, err
}

func launchedEnv() (dir, slot string, ok bool) {
	dir, slot = os.Getenv(EnvDir), os.Getenv(EnvSlot)
	if dir == "" || slot == "" {
		return "", "", false
	}
	if slot == "base" {
		slot = SlotBase
	}
	return dir, slot, true
}
