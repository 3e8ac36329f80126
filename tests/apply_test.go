package tests

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"canary/agent"
	"canary/agent/command"
	"canary/agent/wire"
	"canary/config"
	"canary/drivers"
	"canary/drivers/modbus"
	"canary/drivers/modbus/modbustest"
	"canary/drivers/mqtt"
	"canary/drivers/mqtt/mqtttest"
)

// applyRig is an agent under a Runner, in this process, against an
// in-process broker that wants a password, with one Modbus device.
type applyRig struct {
	t      *testing.T
	dir    string
	file   string
	broker *mqtttest.Broker
	rec    *mqtttest.Recorder
	priv   ed25519.PrivateKey
	topics wire.Topics
	done   chan error
	cancel context.CancelFunc
	yaml   func(passFile, level string) string
	// edit, when set, changes the agent's options before start.
	edit func(*agent.Options)
}

func newApplyRig(t *testing.T) *applyRig {
	t.Helper()
	dir := t.TempDir()
	broker := mqtttest.StartBroker(t, mqtttest.BrokerOptions{Username: "canary", Password: "right"})
	rec, err := broker.Record("canary/#")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { rec.Close() })
	mb := modbustest.Start(t)
	pub, priv, _ := ed25519.GenerateKey(rand.Reader)
	for name, pw := range map[string]string{"right.pass": "right\n", "wrong.pass": "wrong\n"} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(pw), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	r := &applyRig{t: t, dir: dir, file: filepath.Join(dir, "canary.yaml"), broker: broker, rec: rec, priv: priv,
		topics: wire.NewTopics("canary", "site-1", "gw-1")}
	r.yaml = func(passFile, level string) string {
		return fmt.Sprintf(`version: 1
site: {id: site-1, gateway: gw-1}
platform:
  mqtt:
    url: %s
    username: canary
    password_file: %s
    reconnect_min: 50ms
    reconnect_max: 200ms
    connect_timeout: 2s
  commands:
    enabled: true
    public_keys: [%q]
    apply_timeout: 3s
state_dir: %s
http: {listen: ""}
log: {level: %s}
devices:
  - id: panel
    driver: modbus
    address: %s
    interval: 100ms
    timeout: 500ms
    points:
      - {id: GT-101, table: input, address: 0}
`, broker.URL(), filepath.Join(dir, passFile), command.FormatPublicKey(pub), dir, level, mb.Addr())
	}
	if err := os.WriteFile(r.file, []byte(r.yaml("right.pass", "info")), 0o640); err != nil {
		t.Fatal(err)
	}
	return r
}

func (r *applyRig) start() {
	t := r.t
	cfg, err := config.Load(r.file)
	if err != nil {
		t.Fatal(err)
	}
	reg := &drivers.Registry{}
	reg.Register("modbus", modbus.Driver{})
	log := slog.New(slog.NewTextHandler(testLog{t}, &slog.HandlerOptions{Level: slog.LevelInfo}))
	opts := agent.Options{Registry: reg, Log: log, Version: "test",
		NewSink: func(c config.MQTT, will *drivers.Message, log *slog.Logger) (drivers.Sink, error) {
			return mqtt.FromConfig(c, will, log)
		}}
	if r.edit != nil {
		r.edit(&opts)
	}
	ctx, cancel := context.WithCancel(context.Background())
	r.cancel, r.done = cancel, make(chan error, 1)
	go func() { r.done <- agent.NewRunner(opts).Run(ctx, cfg) }()
	t.Cleanup(r.stop)
	r.waitStatus(func(st agent.Status) bool { return st.State == "online" && st.Link.Connected })
	r.waitSubscribed()
}

// waitSubscribed pings until a reply comes: the agent subscribes to P/cmd
// just after its birth status, and a command sent before that is lost
// (QoS 1 to a clean session that is not yet subscribed).
func (r *applyRig) waitSubscribed() {
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		b, _ := command.SignCommand(r.priv, command.NewCommand("site-1/gw-1", "ping", nil, time.Now(), time.Minute))
		_ = r.broker.Publish(r.topics.Cmd, b, false)
		time.Sleep(100 * time.Millisecond)
		for _, m := range r.rec.Messages() {
			if m.Topic == r.topics.CmdReply {
				return
			}
		}
	}
	r.t.Fatal("the agent did not subscribe to P/cmd")
}

func (r *applyRig) stop() {
	if r.cancel == nil {
		return
	}
	r.cancel()
	select {
	case err := <-r.done:
		if err != nil {
			r.t.Error(err)
		}
	case <-time.After(20 * time.Second):
		r.t.Error("runner did not stop")
	}
	r.cancel = nil
}

type testLog struct{ t *testing.T }

func (l testLog) Write(p []byte) (int, error) {
	l.t.Log(strings.TrimSpace(string(p)))
	return len(p), nil
}

func (r *applyRig) wait(what string, cond func([]mqtttest.Msg) bool) {
	r.t.Helper()
	awaitMsgs(r.t, r.rec, 20*time.Second, what, cond)
}

func (r *applyRig) waitStatus(cond func(agent.Status) bool) agent.Status {
	r.t.Helper()
	return awaitStatus(r.t, r.rec, 20*time.Second, r.topics.Status, cond)
}

// awaitMsgs waits until what rec has received satisfies cond, or fails
// the test after limit.
func awaitMsgs(t *testing.T, rec *mqtttest.Recorder, limit time.Duration, what string, cond func([]mqtttest.Msg) bool) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), limit)
	defer cancel()
	if err := rec.WaitFor(ctx, cond); err != nil {
		t.Fatalf("%s: %v", what, err)
	}
}

// awaitStatus waits for a status message on topic (any, not only the
// latest) that satisfies cond, and returns it.
func awaitStatus(t *testing.T, rec *mqtttest.Recorder, limit time.Duration, topic string, cond func(agent.Status) bool) agent.Status {
	t.Helper()
	var got agent.Status
	awaitMsgs(t, rec, limit, "status", func(ms []mqtttest.Msg) bool {
		for _, m := range ms {
			var st agent.Status
			if m.Topic == topic && json.Unmarshal(m.Payload, &st) == nil && cond(st) {
				got = st
				return true
			}
		}
		return false
	})
	return got
}

// command publishes a signed command and returns its reply.
func (r *applyRig) command(name string, args any) command.Reply {
	r.t.Helper()
	raw, _ := json.Marshal(args)
	c := command.NewCommand("site-1/gw-1", name, raw, time.Now(), time.Minute)
	b, err := command.SignCommand(r.priv, c)
	if err != nil {
		r.t.Fatal(err)
	}
	if err := r.broker.Publish(r.topics.Cmd, b, false); err != nil {
		r.t.Fatal(err)
	}
	var reply command.Reply
	r.wait("reply to "+name, func(ms []mqtttest.Msg) bool {
		for _, m := range ms {
			reply = command.Reply{} // no field left over from another reply
			if m.Topic == r.topics.CmdReply && json.Unmarshal(m.Payload, &reply) == nil && reply.ID == c.ID {
				return true
			}
		}
		return false
	})
	return reply
}

func (r *applyRig) events(state string) []wire.Event { return r.eventsOf(wire.TypeAgent, state) }

// eventsOf lists the events of a type and state the platform received.
func (r *applyRig) eventsOf(typ, state string) []wire.Event {
	var out []wire.Event
	for _, m := range r.rec.Messages() {
		if m.Topic != r.topics.Event {
			continue
		}
		dm, _ := wire.Decode(m.Payload)
		for _, e := range dm.Events {
			if e.Type == typ && e.State == state {
				out = append(out, e)
			}
		}
	}
	return out
}

// The rollback test: a config whose broker password is wrong is applied
// by command; the uplink does not come back, so within the window the
// agent restores the previous file, reconnects with it, and says so in
// status and in an event. What the rejected config's agent queued while
// it could not connect is delivered afterwards: the outbox survived both
// switches.
func TestConfigApplyRollsBackWhenUplinkDoesNotReturn(t *testing.T) {
	r := newApplyRig(t)
	orig, _ := os.ReadFile(r.file)
	r.start()
	bad := r.yaml("wrong.pass", "info")
	reply := r.command("config.apply", map[string]string{"config": bad})
	res, _ := reply.Result.(map[string]any)
	if !reply.OK || res["state"] != "applying" {
		t.Fatalf("config.apply reply %+v", reply)
	}
	applied := time.Now()
	st := r.waitStatus(func(st agent.Status) bool {
		return st.Link.Connected && st.Config != nil && st.Config.State == "rolled_back"
	})
	if took := time.Since(applied); took > 3*time.Second+10*time.Second {
		t.Errorf("rollback took %v with a 3s window", took)
	}
	if st.Config.RejectedCfg != res["hash"] || !strings.Contains(st.Config.Reason, "uplink not back within 3s") {
		t.Errorf("status config block %+v", st.Config)
	}
	if !hasWarning(st, agent.WarnConfigRolledBack) {
		t.Errorf("status warnings %+v lack %s", st.Warnings, agent.WarnConfigRolledBack)
	}
	r.wait("config_rolled_back event", func([]mqtttest.Msg) bool { return len(r.events("config_rolled_back")) == 1 })
	now, _ := os.ReadFile(r.file)
	if string(now) != string(orig) {
		t.Errorf("config file not restored:\n%s", now)
	}
	if prev, _ := os.ReadFile(r.file + ".prev"); string(prev) != string(orig) {
		t.Errorf("FILE.prev is not the previous config")
	}
	if _, err := os.Stat(filepath.Join(r.dir, agent.TrialFile)); !os.IsNotExist(err) {
		t.Errorf("trial marker left behind: %v", err)
	}
	// The rejected config's agent never connected; its started event,
	// queued in the outbox, arrives through the restored agent.
	r.wait("the trial agent's queued started event", func([]mqtttest.Msg) bool {
		for _, e := range r.events("started") {
			if strings.Contains(e.Detail, "config "+res["hash"].(string)[:12]) {
				return true
			}
		}
		return false
	})
}

// A good config is applied on trial and confirmed once the uplink is back.
func TestConfigApplyConfirmedWhenUplinkReturns(t *testing.T) {
	r := newApplyRig(t)
	r.start()
	good := r.yaml("right.pass", "debug")
	reply := r.command("config.apply", map[string]string{"config": good})
	if !reply.OK {
		t.Fatalf("config.apply reply %+v", reply)
	}
	r.wait("config_applied event", func([]mqtttest.Msg) bool { return len(r.events("config_applied")) == 1 })
	st := r.waitStatus(func(st agent.Status) bool {
		return st.Config != nil && st.Config.State == "running" && st.Config.AppliedAt > 0
	})
	if st.Config.Hash != reply.Result.(map[string]any)["hash"] {
		t.Errorf("running hash %s", st.Config.Hash)
	}
	if now, _ := os.ReadFile(r.file); string(now) != good {
		t.Errorf("config file is not the applied one")
	}
}

// A config that `canary check` would refuse is refused, with its errors,
// and nothing changes.
func TestConfigApplyRefusesInvalidConfig(t *testing.T) {
	r := newApplyRig(t)
	orig, _ := os.ReadFile(r.file)
	r.start()
	reply := r.command("config.apply", map[string]string{"config": r.yaml("missing.pass", "info")})
	if reply.OK || reply.Reason != command.ReasonBadArgs || !strings.Contains(reply.Error, "platform.mqtt.password_file: cannot read the password") {
		t.Fatalf("reply %+v", reply)
	}
	if now, _ := os.ReadFile(r.file); string(now) != string(orig) {
		t.Error("config file changed")
	}
	if _, err := os.Stat(r.file + ".new"); !os.IsNotExist(err) {
		t.Error("candidate file left behind")
	}
}

// restart replies first, then the agent restarts in-process: a new boot
// comes online on the same outbox and reads the same points (the running
// agent keeps its config without them, and gets them back from what was
// loaded, not from the file, which an editor may have changed meanwhile);
// status and config.get report by command.
func TestRestartAndStatusCommands(t *testing.T) {
	r := newApplyRig(t)
	r.start()
	before := r.command("status", nil)
	boot, _ := before.Result.(map[string]any)["boot"].(string)
	if !before.OK || boot == "" {
		t.Fatalf("status reply %+v", before)
	}
	get := r.command("config.get", nil)
	if y, _ := get.Result.(map[string]any)["yaml"].(string); !get.OK || !strings.Contains(y, "GT-101") {
		t.Errorf("config.get lacks the points: %+v", get)
	}
	if err := os.WriteFile(r.file, []byte("version: 1\n# being edited\n"), 0o640); err != nil {
		t.Fatal(err)
	}
	if reply := r.command("restart", nil); !reply.OK {
		t.Fatalf("restart reply %+v", reply)
	}
	st := r.waitStatus(func(st agent.Status) bool { return st.State == "online" && st.Boot != boot })
	r.wait("stopping event of the old boot", func([]mqtttest.Msg) bool { return len(r.events("stopping")) >= 1 })
	r.wait("GT-101 read by the new boot", func(ms []mqtttest.Msg) bool {
		for _, m := range ms {
			dm, _ := wire.Decode(m.Payload)
			if m.Topic == r.topics.Data && dm.Boot == st.Boot && len(dm.Samples) > 0 && dm.Samples[0].Point == "GT-101" {
				return true
			}
		}
		return false
	})
}

func hasWarning(st agent.Status, code string) bool {
	for _, w := range st.Warnings {
		if w.Code == code {
			return true
		}
	}
	return false
}
