package agent

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"time"

	"canary/agent/wire"
)

// StateFile is the name of the safety state file in state_dir.
const StateFile = "safety.json"

// stateDoc is the state file: what held when it was written.
type stateDoc struct {
	Version int         `json:"version"`
	Saved   int64       `json:"saved"` // Unix ms, agent clock
	Active  []Condition `json:"active"`
}

// openState loads the state file at path, if there is one, and keeps path
// for save. Conditions that no longer match the config (point gone, limit
// or kind changed) are dropped.
func (p *pipeline) openState(path string) error {
	p.statePath = path
	conds, err := readState(path)
	if err != nil {
		return err
	}
	for _, c := range conds {
		if !p.restore(c) {
			p.dirty.Store(true) // rewrite without it
		}
	}
	return nil
}

// restore puts one persisted condition back into its point's state, so
// the agent neither repeats its start event nor misses its end.
func (p *pipeline) restore(c Condition) bool {
	ps := p.points[c.Point]
	if ps == nil {
		return false
	}
	since := time.UnixMilli(c.Since)
	switch c.Type {
	case wire.TypeAlarm:
		if ps.rules == nil {
			return false
		}
		for _, l := range ps.rules.limits {
			if l.level == c.Level {
				l.active, l.since = true, since
				ps.rules.qualBad = ps.rules.qualBad || c.Quality != ""
				lim := l.limit
				c.Limit = &lim
				p.setCond(c)
				return true
			}
		}
		return false
	case wire.TypeInterlock, wire.TypeBypass, wire.TypeFault:
		if want := kindType(ps.kind); want != c.Type {
			return false
		}
		ps.cond.flag.Store(true)
		ps.cond.since, ps.cond.overdue = since, c.Overdue
		p.setCond(c)
		return true
	}
	return false
}

// kindType is the event type of a condition point's kind.
func kindType(k pointKind) string {
	switch k {
	case kindInterlock:
		return wire.TypeInterlock
	case kindBypass:
		return wire.TypeBypass
	case kindFault, kindMaintenance:
		return wire.TypeFault
	}
	return ""
}

// save writes the state file if anything changed since the last write.
// It is called after the events of the change are in the outbox: a crash
// in between repeats an event on restart rather than losing one.
func (p *pipeline) save(now time.Time) error {
	if p.statePath == "" || !p.dirty.Load() {
		return nil
	}
	p.saveMu.Lock()
	defer p.saveMu.Unlock()
	if !p.dirty.Swap(false) {
		return nil
	}
	doc := stateDoc{Version: 1, Saved: now.UnixMilli(), Active: p.conditions()}
	b, _ := json.MarshalIndent(doc, "", "  ") // Condition has no field json can fail on
	if err := writeAtomic(p.statePath, append(b, '\n')); err != nil {
		p.dirty.Store(true) // try again on the next change or check
		return err
	}
	return nil
}

func readState(path string) ([]Condition, error) {
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("agent: state file: %w", err)
	}
	var doc stateDoc
	if err := json.Unmarshal(b, &doc); err != nil {
		return nil, fmt.Errorf("agent: state file %s: %w", path, err)
	}
	if doc.Version != 1 {
		return nil, fmt.Errorf("agent: state file %s: version %d, want 1", path, doc.Version)
	}
	return doc.Active, nil
}

// writeAtomic replaces path with data so that a power cut leaves either
// the old or the new file: temp file, fsync, rename, fsync the directory.
func writeAtomic(path string, data []byte) error {
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o750); err != nil {
		return fmt.Errorf("agent: state dir: %w", err)
	}
	f, err := os.CreateTemp(dir, filepath.Base(path)+".tmp*")
	if err != nil {
		return fmt.Errorf("agent: state file: %w", err)
	}
	tmp := f.Name()
	_, err = f.Write(data)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp, path)
	}
	if err != nil {
		os.Remove(tmp)
		return fmt.Errorf("agent: state file: %w", err)
	}
	return syncDir(dir)
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("agent: state dir: %w", err)
	}
	defer d.Close()
	if err := d.Sync(); err != nil {
		return fmt.Errorf("agent: state dir sync: %w", err)
	}
	return nil
}
