package agent

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"path/filepath"
	"time"

	"canary/agent/command"
	"canary/agent/wire"
	"canary/drivers"
)

// NonceFile is where accepted command nonces are kept, in state_dir.
const NonceFile = "cmd-nonces.json"

// commander receives P/cmd messages on the sink's goroutine, queues them
// (bounded) and runs them one at a time on its own goroutine, replying on
// P/cmd/reply. An action that must follow the reply (restart, apply) is
// run after the reply was acknowledged or gave up on.
type commander struct {
	a     *Agent
	p     *command.Processor
	queue chan []byte
	after func() // set by a handler; run after its reply
}

// newCommander returns nil when commands are off: disabled or no keys.
func newCommander(a *Agent) *commander {
	cc := a.cfg.Platform.Commands
	if !cc.Enabled || len(cc.PublicKeys) == 0 {
		return nil
	}
	c := &commander{a: a, queue: make(chan []byte, 8)}
	nonces := ""
	if a.cfg.StateDir != "" {
		nonces = filepath.Join(a.cfg.StateDir, NonceFile)
	}
	p, err := command.New(command.Options{Keys: cc.PublicKeys, Target: a.cfg.Site.ID + "/" + a.cfg.Site.Gateway,
		NonceFile: nonces, Now: a.clock.Now, Log: a.log.With("component", "commands"), Observe: c.observe})
	if err != nil {
		a.log.Error("commands off", "err", err)
		return nil
	}
	c.p = p
	p.Handle("ping", c.ping)
	p.Handle("status", func(context.Context, json.RawMessage) (any, error) { return a.status("online"), nil })
	p.Handle("config.get", c.configGet)
	p.Handle("config.apply", c.configApply)
	p.Handle("restart", c.restart)
	p.Handle("log.level", c.logLevel)
	p.Handle("firmware.update", c.firmwareUpdate)
	return c
}

func (c *commander) observe(cmd, reason string) {
	c.a.m.met.command(cmd, reason)
	if reason != "" {
		c.a.m.lastRefusal.Store(c.a.clock.Now().UnixNano())
		c.a.m.refusalWarning() // cheap: this may run on the sink's goroutine
	}
}

// onUplinkReady runs after each birth: it subscribes to P/cmd (clean
// sessions forget subscriptions) and tells a firmware trial the uplink
// works.
func (a *Agent) onUplinkReady(ctx context.Context) {
	if a.fw != nil {
		a.fw.uplinkReady() // healthy: a trial may commit
	}
	if a.m.cmd == nil {
		return
	}
	if err := a.sink.Subscribe(ctx, a.fwd.topics.Cmd, a.m.cmd.enqueue); err != nil {
		a.log.Error("commands: subscribe failed; commands unavailable on this connection", "err", err)
	}
}

// enqueue runs on the sink's goroutine: it must not block.
func (c *commander) enqueue(_ string, payload []byte) {
	select {
	case c.queue <- append([]byte(nil), payload...):
	default:
		c.a.log.Warn("commands: queue full; message dropped", "bytes", len(payload))
		c.observe("", command.ReasonBusy)
	}
}

// work runs queued commands until ctx ends.
func (c *commander) work(ctx context.Context) {
	for {
		select {
		case <-ctx.Done():
			return
		case raw := <-c.queue:
			c.after = nil
			r := c.p.Process(ctx, raw)
			c.reply(ctx, r)
			if c.after != nil {
				c.after()
			}
		}
	}
}

type cmdReply struct {
	Schema  string `json:"schema"`
	Site    string `json:"site"`
	Gateway string `json:"gateway"`
	Boot    string `json:"boot"`
	command.Reply
}

func (c *commander) reply(ctx context.Context, r command.Reply) {
	a := c.a
	b, err := json.Marshal(cmdReply{Schema: wire.Schema, Site: a.cfg.Site.ID, Gateway: a.cfg.Site.Gateway, Boot: a.boot, Reply: r})
	if err != nil {
		b, _ = json.Marshal(cmdReply{Schema: wire.Schema, Site: a.cfg.Site.ID, Gateway: a.cfg.Site.Gateway, Boot: a.boot,
			Reply: command.Reply{ID: r.ID, Cmd: r.Cmd, Reason: command.ReasonFailed, Error: "reply: " + err.Error(), TS: r.TS}})
	}
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	d := a.sink.Publish(ctx, drivers.Message{Topic: a.fwd.topics.CmdReply, Payload: b})
	select {
	case <-d.Done():
		err = d.Err()
	case <-ctx.Done():
		err = ctx.Err()
	}
	if err != nil {
		a.log.Warn("commands: reply not delivered", "id", r.ID, "err", err)
	}
}

func (c *commander) ping(context.Context, json.RawMessage) (any, error) {
	return map[string]any{"pong": true, "boot": c.a.boot, "time": c.a.clock.Now().UnixMilli()}, nil
}

func (c *commander) configGet(context.Context, json.RawMessage) (any, error) {
	y, err := c.a.cfg.Redacted()
	if err != nil {
		return nil, err
	}
	return map[string]string{"hash": c.a.cfg.Hash, "yaml": string(y)}, nil
}

func (c *commander) restart(context.Context, json.RawMessage) (any, error) {
	run := c.a.m.run
	if run == nil {
		return nil, &command.Refusal{Reason: command.ReasonFailed, Msg: "this agent is not run by a supervisor that can restart it"}
	}
	c.after = func() { run.restart(c.a.cfg, nil) }
	return map[string]any{"restarting": true}, nil
}

func (c *commander) logLevel(_ context.Context, args json.RawMessage) (any, error) {
	var v struct {
		Level string `json:"level"`
	}
	var lv slog.Level
	if err := strictArgs(args, &v); err != nil || lv.UnmarshalText([]byte(v.Level)) != nil {
		return nil, &command.Refusal{Reason: command.ReasonBadArgs, Msg: `want {"level": "debug|info|warn|error"}`}
	}
	if c.a.opts.LogLevel == nil {
		return nil, &command.Refusal{Reason: command.ReasonFailed, Msg: "the log level of this agent is fixed"}
	}
	prev := c.a.opts.LogLevel.Level()
	c.a.opts.LogLevel.Set(lv)
	c.a.log.Warn("log level changed by command", "from", prev, "to", lv)
	return map[string]string{"level": lv.String(), "previous": prev.String()}, nil
}

// strictArgs decodes a command's args object, unknown fields refused.
func strictArgs(args json.RawMessage, v any) error {
	if len(args) == 0 {
		return errors.New("no args")
	}
	dec := json.NewDecoder(bytes.NewReader(args))
	dec.DisallowUnknownFields()
	return dec.Decode(v)
}
