package agent

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"time"

	"canary/agent/command"
	"canary/config"
)

// TrialFile, in state_dir, marks a remotely applied config on trial, so a
// crash or power cut during the trial still ends in a decision: the next
// start runs the trial again with a fresh window.
const TrialFile = "config-trial.json"

// DefaultApplyTimeout is the trial window when the config does not say.
const DefaultApplyTimeout = 5 * time.Minute

// trial is a config applied by command and not yet confirmed by a working
// uplink.
type trial struct {
	File     string `json:"file"`      // the config file (now holding the new config)
	PrevFile string `json:"prev_file"` // FILE.prev: the config that ran before
	Hash     string `json:"hash"`      // of the new config
	Marker   string `json:"-"`
	hash     string // = Hash
	prev     *config.Config
	deadline time.Time
	timeout  time.Duration
}

func applyTimeout(c *config.Config) time.Duration {
	if d := c.Platform.Commands.ApplyTimeout.D(); d > 0 {
		return d
	}
	return DefaultApplyTimeout
}

// finish ends the trial: the marker goes, FILE.prev stays as the previous
// config.
func (t *trial) finish() {
	if t.Marker != "" {
		_ = os.Remove(t.Marker)
	}
}

// restore puts FILE.prev back as FILE (atomically) and ends the trial.
func (t *trial) restore() error {
	defer t.finish()
	b, err := os.ReadFile(t.PrevFile)
	if err != nil {
		return err
	}
	return writeKeepingMode(t.File, b)
}

func writeKeepingMode(path string, b []byte) error {
	mode := os.FileMode(0o640)
	if fi, err := os.Stat(path); err == nil {
		mode = fi.Mode().Perm()
	}
	return command.WriteFileAtomic(path, b, mode)
}

// resumeTrial continues a trial interrupted by a restart of the process.
func resumeTrial(cfg *config.Config, log *slog.Logger) *trial {
	if cfg.StateDir == "" || cfg.File == "" {
		return nil
	}
	marker := filepath.Join(cfg.StateDir, TrialFile)
	b, err := os.ReadFile(marker)
	if err != nil {
		return nil
	}
	var t trial
	if json.Unmarshal(b, &t) != nil || t.File != cfg.File || t.Hash != cfg.Hash {
		_ = os.Remove(marker) // another config runs now: nothing on trial
		return nil
	}
	prev, err := config.Load(t.PrevFile)
	if err != nil {
		log.Error("config on trial, but the previous config cannot be loaded: no rollback possible", "err", err)
		_ = os.Remove(marker)
		return nil
	}
	t.Marker, t.hash, t.prev, t.timeout = marker, t.Hash, prev, applyTimeout(prev)
	t.deadline = time.Now().Add(t.timeout)
	log.Warn("config on trial since before a restart; a new window starts", "hash", shortHash(t.Hash), "until", t.deadline)
	return &t
}

// configApply validates the YAML in args.config as `canary check` does,
// writes it over the config file atomically keeping the previous one as
// FILE.prev, and asks the Runner to switch to it on trial.
func (c *commander) configApply(_ context.Context, args json.RawMessage) (any, error) {
	a := c.a
	var v struct {
		Config string `json:"config"`
	}
	if err := strictArgs(args, &v); err != nil || strings.TrimSpace(v.Config) == "" {
		return nil, badArgs(`want {"config": "<the whole YAML file>"}`)
	}
	if a.m.run == nil || a.cfg.File == "" {
		return nil, &command.Refusal{Reason: command.ReasonFailed, Msg: "this agent has no config file or supervisor to apply a config with"}
	}
	next, err := validateCandidate(a.cfg, []byte(v.Config))
	if err != nil {
		return nil, err
	}
	if next.Hash == a.cfg.Hash {
		return map[string]any{"hash": next.Hash, "state": "unchanged"}, nil
	}
	t, err := install(a.cfg, next, []byte(v.Config))
	if err != nil {
		return nil, err
	}
	c.after = func() { a.m.run.restart(next, t) }
	return map[string]any{"hash": next.Hash, "state": "applying", "previous": a.cfg.Hash,
		"rollback_after_s": t.timeout.Seconds()}, nil
}

func badArgs(msg string) error { return &command.Refusal{Reason: command.ReasonBadArgs, Msg: msg} }

// validateCandidate loads data exactly as `canary check` would (parse,
// validate, password file) from FILE.new next to the config file.
func validateCandidate(cur *config.Config, data []byte) (*config.Config, error) {
	cand := cur.File + ".new"
	if err := writeKeepingMode(cand, data); err != nil {
		return nil, fmt.Errorf("agent: write %s: %w", cand, err)
	}
	next, err := config.Load(cand)
	if err != nil {
		os.Remove(cand)
		return nil, badArgs("invalid config:\n" + strings.ReplaceAll(err.Error(), cand, "config"))
	}
	next.File = cur.File
	switch {
	case next.StateDir != cur.StateDir:
		err = badArgs("state_dir cannot change remotely (the outbox and safety state live there)")
	case next.Buffer.Path != cur.Buffer.Path:
		err = badArgs("buffer.path cannot change remotely (the outbox must survive the switch)")
	}
	if err != nil {
		os.Remove(cand)
		return nil, err
	}
	return next, nil
}

// install keeps the current file as FILE.prev, renames FILE.new over
// FILE and writes the trial marker.
func install(cur, next *config.Config, data []byte) (*trial, error) {
	file := cur.File
	t := &trial{File: file, PrevFile: file + ".prev", Hash: next.Hash, hash: next.Hash, prev: cur,
		timeout: applyTimeout(cur)}
	old, err := os.ReadFile(file)
	if err == nil {
		err = writeKeepingMode(t.PrevFile, old)
	}
	if err == nil {
		err = os.Rename(file+".new", file)
	}
	if err == nil {
		err = fsyncDir(filepath.Dir(file))
	}
	if err != nil {
		os.Remove(file + ".new")
		return nil, fmt.Errorf("agent: install config: %w", err)
	}
	t.deadline = time.Now().Add(t.timeout)
	if cur.StateDir != "" {
		t.Marker = filepath.Join(cur.StateDir, TrialFile)
		b, _ := json.Marshal(t)
		if command.WriteFileAtomic(t.Marker, b, 0o600) != nil {
			t.Marker = "" // the trial still runs; only a crash during it is not covered
		}
	}
	return t, nil
}

func fsyncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}
