package tests

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"canary/agent"
	"canary/agent/command"
	"canary/agent/wire"
	"canary/drivers/modbus/modbustest"
	"canary/drivers/mqtt/mqtttest"
	"canary/firmware"
	"canary/tests/harness"
)

// The whole update with real binaries, as systemd runs them: the
// launcher starts canary 1.0.0 (the base binary), a signed
// firmware.update installs 2.0.0, the agent exits, the launcher (started
// again, as Restart=always does) runs 2.0.0 on trial against a real
// broker and Modbus server, and 2.0.0 commits once its uplink is up. The
// platform hears installed, trial and committed, then 2.0.0's data.
func TestFirmwareUpdateEndToEnd(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end: skipped with -short")
	}
	v1, v2 := harness.VersionBinary(t, "1.0.0"), harness.VersionBinary(t, "2.0.0")
	dir := t.TempDir()
	fwDir := filepath.Join(dir, "firmware")
	broker := mqtttest.StartBroker(t, mqtttest.BrokerOptions{})
	rec, err := broker.Record("canary/#")
	if err != nil {
		t.Fatal(err)
	}
	defer rec.Close()
	mb := modbustest.Start(t)
	cmdPub, cmdKey, _ := ed25519.GenerateKey(rand.Reader)
	keys := writeTemp(t, "firmware-keys", []byte(firmware.FormatPublicKey(releaseKey.Public().(ed25519.PublicKey))+"\n"))
	cfg := filepath.Join(dir, "canary.yaml")
	yaml := fmt.Sprintf(`version: 1
site: {id: fw-site, gateway: gw-1}
platform:
  mqtt: {url: %q, reconnect_min: 100ms, reconnect_max: 500ms}
  commands: {enabled: true, public_keys: [%q]}
state_dir: %q
http: {listen: ""}
firmware: {keys_file: %q}
devices:
  - {id: panel, driver: modbus, address: %q, interval: 200ms, timeout: 500ms,
     points: [{id: GT-101, table: holding, address: 0}]}
`, broker.URL(), command.FormatPublicKey(cmdPub), dir, keys, mb.Addr())
	if err := os.WriteFile(cfg, []byte(yaml), 0o600); err != nil {
		t.Fatal(err)
	}
	payload, err := os.ReadFile(v2)
	if err != nil {
		t.Fatal(err)
	}
	bundlePath := writeTemp(t, "canary-2.0.0.fwb", signBundle(t, "2.0.0", firmware.Host(), payload, releaseKey))
	p := &platform{t: t, broker: broker, rec: rec, key: cmdKey, topics: wire.NewTopics("canary", "fw-site", "gw-1")}
	boot := func() *harness.Agent {
		return harness.StartGroup(t, v1, "firmware", "boot", "-dir", fwDir, "-window", "60s", "--", "run", "-c", cfg)
	}

	first := boot()
	old := p.status(func(st agent.Status) bool {
		return st.State == "online" && st.Version == "1.0.0" && st.Firmware != nil && st.Firmware.Launched && st.Firmware.Slot == "base"
	})
	p.subscribed()
	reply := p.command("firmware.update", map[string]string{"path": bundlePath})
	if res, _ := reply.Result.(map[string]any); !reply.OK || res["slot"] != "a" || res["version"] != "2.0.0" {
		t.Fatalf("firmware.update reply %+v", reply)
	}
	select {
	case <-first.Done():
		if c := first.ExitCode(); c != 0 {
			t.Fatalf("1.0.0 exited with %d after the install", c)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("1.0.0 did not exit after the install")
	}

	second := boot() // systemd's Restart=always
	p.event("committed", "2.0.0")
	trial := p.event("trial", "2.0.0")
	if trial.Slot != "a" || trial.Boots != 1 {
		t.Errorf("trial event %+v", trial)
	}
	if e := p.event("installed", "2.0.0"); e.From != "1.0.0" || e.Slot != "a" {
		t.Errorf("installed event %+v", e)
	}
	st := p.status(func(st agent.Status) bool {
		return st.Version == "2.0.0" && st.Firmware != nil && st.Firmware.Slot == "a" && !st.Firmware.Trial && st.Link.Connected
	})
	if st.Boot == old.Boot {
		t.Fatal("the new version reports the old boot")
	}
	p.wait("2.0.0's data", func(ms []mqtttest.Msg) bool {
		for _, m := range ms {
			if dm, err := wire.Decode(m.Payload); err == nil && m.Topic == p.topics.Data && dm.Boot == st.Boot && len(dm.Samples) > 0 {
				return true
			}
		}
		return false
	})
	// Events are forgotten just after the append that holds them, which
	// the platform may see first: give the agent a moment.
	var b []byte
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		var state firmware.State
		b, _ = os.ReadFile(filepath.Join(fwDir, "state.json"))
		err := json.Unmarshal(b, &state)
		if err == nil && state.Active == firmware.SlotA && !state.Trial && len(state.Events) == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("state.json %s (%v): want slot a committed, events published", b, err)
		}
	}
	if err := second.Stop(20 * time.Second); err != nil {
		t.Fatal(err)
	}
}

// platform plays the platform on the broker: signed commands, and waits
// on what the gateway publishes.
type platform struct {
	t      *testing.T
	broker *mqtttest.Broker
	rec    *mqtttest.Recorder
	key    ed25519.PrivateKey
	topics wire.Topics
}

func (p *platform) wait(what string, cond func([]mqtttest.Msg) bool) {
	p.t.Helper()
	awaitMsgs(p.t, p.rec, 30*time.Second, what, cond)
}

func (p *platform) status(cond func(agent.Status) bool) agent.Status {
	p.t.Helper()
	return awaitStatus(p.t, p.rec, 30*time.Second, p.topics.Status, cond)
}

func (p *platform) event(state, version string) wire.Event {
	p.t.Helper()
	var got wire.Event
	p.wait("firmware "+state+" event", func(ms []mqtttest.Msg) bool {
		for _, m := range ms {
			dm, _ := wire.Decode(m.Payload)
			for _, e := range dm.Events {
				if m.Topic == p.topics.Event && e.Type == wire.TypeFirmware && e.State == state && e.Version == version {
					got = e
					return true
				}
			}
		}
		return false
	})
	return got
}

func (p *platform) sign(name string, args any) (command.Command, []byte) {
	raw, _ := json.Marshal(args)
	c := command.NewCommand("fw-site/gw-1", name, raw, time.Now(), time.Minute)
	b, err := command.SignCommand(p.key, c)
	if err != nil {
		p.t.Fatal(err)
	}
	return c, b
}

// subscribed pings until a reply comes (the agent subscribes to P/cmd
// just after its birth).
func (p *platform) subscribed() {
	for deadline := time.Now().Add(20 * time.Second); time.Now().Before(deadline); {
		_, b := p.sign("ping", nil)
		_ = p.broker.Publish(p.topics.Cmd, b, false)
		ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
		err := p.rec.WaitFor(ctx, func(ms []mqtttest.Msg) bool {
			for _, m := range ms {
				if m.Topic == p.topics.CmdReply {
					return true
				}
			}
			return false
		})
		cancel()
		if err == nil {
			return
		}
	}
	p.t.Fatal("the agent did not subscribe to P/cmd")
}

func (p *platform) command(name string, args any) command.Reply {
	p.t.Helper()
	c, b := p.sign(name, args)
	if err := p.broker.Publish(p.topics.Cmd, b, false); err != nil {
		p.t.Fatal(err)
	}
	var reply command.Reply
	p.wait("reply to "+name, func(ms []mqtttest.Msg) bool {
		for _, m := range ms {
			reply = command.Reply{}
			if m.Topic == p.topics.CmdReply && json.Unmarshal(m.Payload, &reply) == nil && reply.ID == c.ID {
				return true
			}
		}
		return false
	})
	return reply
}
