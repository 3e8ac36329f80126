package tests

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"testing"
	"time"

	"canary/agent"
	"canary/config"
	"canary/drivers"
	"canary/drivers/modbus"
	"canary/drivers/modbus/modbustest"
	"canary/drivers/mqtt"
	"canary/drivers/mqtt/mqtttest"
)

// The platform is a cluster of two Mosquitto nodes: the agent uses the
// first; stopped, the agent moves to the second and its status there
// names the node it is on.
func TestAgentFailsOverBetweenClusterNodes(t *testing.T) {
	m1 := mqtttest.StartMosquitto(t)
	m2 := mqtttest.StartMosquitto(t)
	mb := modbustest.Start(t)
	dir := t.TempDir()
	file := filepath.Join(dir, "canary.yaml")
	yaml := fmt.Sprintf(`version: 1
site: {id: site-1, gateway: gw-1}
platform:
  mqtt:
    urls: [%s, %s]
    reconnect_min: 50ms
    reconnect_max: 300ms
    connect_timeout: 2s
    keepalive: 2s
state_dir: %s
http: {listen: ""}
devices:
  - {id: panel, driver: modbus, address: %s, interval: 100ms, points: [{id: GT-101, table: input, address: 0}]}
`, m1.URL(), m2.URL(), dir, mb.Addr())
	if err := os.WriteFile(file, []byte(yaml), 0o640); err != nil {
		t.Fatal(err)
	}
	cfg, err := config.Load(file)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 40*time.Second)
	defer cancel()
	rec1, err := mqtttest.DialRecorder(ctx, m1.URL(), "canary/+/+/status")
	if err != nil {
		t.Fatal(err)
	}
	defer rec1.Close()
	rec2, err := mqtttest.DialRecorder(ctx, m2.URL(), "canary/+/+/status")
	if err != nil {
		t.Fatal(err)
	}
	defer rec2.Close()
	reg := &drivers.Registry{}
	reg.Register("modbus", modbus.Driver{})
	opts := agent.Options{Registry: reg, Log: slog.New(slog.NewTextHandler(testLog{t}, nil)),
		NewSink: func(c config.MQTT, will *drivers.Message, log *slog.Logger) (drivers.Sink, error) {
			return mqtt.FromConfig(c, will, log)
		}}
	runCtx, stop := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- agent.NewRunner(opts).Run(runCtx, cfg) }()
	defer func() { stop(); <-done }()

	onBroker := func(url string) func([]mqtttest.Msg) bool {
		return func(ms []mqtttest.Msg) bool {
			for _, m := range ms {
				var st agent.Status
				if json.Unmarshal(m.Payload, &st) == nil && st.State == "online" && st.Link.Broker == url {
					return true
				}
			}
			return false
		}
	}
	if err := rec1.WaitFor(ctx, onBroker(m1.URL())); err != nil {
		t.Fatalf("no online status on the first node: %v", err)
	}
	if err := m1.Stop(); err != nil {
		t.Fatal(err)
	}
	if err := rec2.WaitFor(ctx, onBroker(m2.URL())); err != nil {
		t.Fatalf("no online status naming the second node on it: %v", err)
	}
}
