package tests

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"

	"canary/agent/wire"
	"canary/buffer"
	"canary/drivers/modbus/modbustest"
	"canary/drivers/mqtt/mqtttest"
	"canary/tests/harness"
)

const e2ePoints = 200

// The spine end to end: 200 points scanned every 100 ms by the real binary,
// a real Mosquitto stopped for 10 s, the agent kill -9'd during the outage
// and restarted. The platform must receive every record the agent ever
// appended (seqs are contiguous per lane and the outbox ends empty), in
// order per point, with duplicates only as exact boot/seq repeats.
func TestEndToEndOutageAndKill(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end: skipped with -short")
	}
	bin := harness.Binary(t)
	broker := mqtttest.StartMosquitto(t, mqtttest.MosquittoOptions{Persistence: true})
	srv := modbustest.Start(t)
	stopCounter := harness.CountUp(srv, e2ePoints, 50*time.Millisecond)
	defer stopCounter()

	rack := harness.Rack{Dir: t.TempDir(), ModbusAddr: srv.Addr(), BrokerURL: broker.URL(), Points: e2ePoints,
		Interval: 100 * time.Millisecond, LogLevel: "debug"}
	cfgPath := rack.WriteConfig(t)
	rec := newPersistentRecorder(t, broker.URL())

	a := harness.StartAgent(t, bin, cfgPath)
	time.Sleep(3 * time.Second)

	broker.Stop() // graceful: the recorder's session is persisted
	time.Sleep(2 * time.Second)
	a.Kill()
	a = harness.StartAgent(t, bin, cfgPath) // restarts while the broker is still down
	time.Sleep(8 * time.Second)
	broker.Start()
	time.Sleep(3 * time.Second)

	if err := a.Stop(20 * time.Second); err != nil {
		t.Fatal(err)
	}
	stopCounter()

	box, err := buffer.OpenBolt(rack.OutboxPath(), buffer.Options{})
	if err != nil {
		t.Fatal(err)
	}
	st := box.Stats()
	box.Close()
	want := map[string]uint64{"data": st.Lanes[buffer.LaneData].NextSeq - 1, "event": st.Lanes[buffer.LaneEvent].NextSeq - 1}
	if want["data"] < 50 {
		t.Fatalf("only %d data records appended: the agent hardly ran", want["data"])
	}
	for _, l := range buffer.Lanes {
		if d := st.Lanes[l].Depth; d != 0 {
			t.Errorf("%s lane: %d records still queued after a graceful stop with the broker up", l, d)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := rec.waitComplete(ctx, want); err != nil {
		t.Fatal(err)
	}
	rec.check(t, want)
}

// persistentRecorder is the platform: a subscriber with a persistent
// session, so messages published while it reconnects after the broker
// restart are kept for it.
type persistentRecorder struct {
	mu   sync.Mutex
	msgs []recMsg
}

type recMsg struct {
	lane    string
	payload string
	m       wire.Message
}

func newPersistentRecorder(t *testing.T, url string) *persistentRecorder {
	r := &persistentRecorder{}
	o := paho.NewClientOptions().AddBroker(url).SetClientID("e2e-platform").SetCleanSession(false).
		SetAutoReconnect(true).SetMaxReconnectInterval(200 * time.Millisecond).SetOrderMatters(true)
	o.SetOnConnectHandler(func(c paho.Client) {
		c.Subscribe("canary/#", 1, r.onMessage)
	})
	c := paho.NewClient(o)
	tok := c.Connect()
	if !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
		t.Fatalf("recorder connect: %v", tok.Error())
	}
	t.Cleanup(func() { c.Disconnect(100) })
	return r
}

func (r *persistentRecorder) onMessage(_ paho.Client, m paho.Message) {
	var lane string
	switch {
	case strings.HasSuffix(m.Topic(), "/data"):
		lane = "data"
	case strings.HasSuffix(m.Topic(), "/event"):
		lane = "event"
	default:
		return
	}
	dm, err := wire.Decode(m.Payload())
	r.mu.Lock()
	defer r.mu.Unlock()
	if err != nil {
		dm.Seq = 0 // check() reports it
	}
	r.msgs = append(r.msgs, recMsg{lane: lane, payload: string(m.Payload()), m: dm})
}

func (r *persistentRecorder) snapshot() []recMsg {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]recMsg(nil), r.msgs...)
}

func (r *persistentRecorder) missing(want map[string]uint64) int {
	got := map[string]map[uint64]bool{"data": {}, "event": {}}
	for _, m := range r.snapshot() {
		got[m.lane][m.m.Seq] = true
	}
	n := 0
	for lane, last := range want {
		for s := uint64(1); s <= last; s++ {
			if !got[lane][s] {
				n++
			}
		}
	}
	return n
}

func (r *persistentRecorder) waitComplete(ctx context.Context, want map[string]uint64) error {
	for {
		n := r.missing(want)
		if n == 0 {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("platform never received %d of the records the agent appended (want data 1..%d, event 1..%d)", n, want["data"], want["event"])
		case <-time.After(100 * time.Millisecond):
		}
	}
}

func (r *persistentRecorder) check(t *testing.T, want map[string]uint64) {
	first := map[string]string{}
	boots := map[string]bool{}
	lastTS := map[string]int64{}
	lastVal := map[string]float64{}
	historical, offline := 0, 0
	// Values per point are checked in seq order, which is append order:
	// delivery order is live first after a reconnect (the backlog follows
	// at buffer.backfill_rate), so arrival order mixes the two.
	msgs := r.snapshot()
	sort.SliceStable(msgs, func(i, j int) bool {
		return msgs[i].lane < msgs[j].lane || msgs[i].lane == msgs[j].lane && msgs[i].m.Seq < msgs[j].m.Seq
	})
	for _, m := range msgs {
		if m.m.Seq == 0 {
			t.Fatalf("undecodable or seq-less message: %s", m.payload)
		}
		key := fmt.Sprintf("%s/%d", m.lane, m.m.Seq)
		if prev, ok := first[key]; ok {
			if prev != m.payload {
				t.Fatalf("%s delivered twice with different content:\n%s\n%s", key, prev, m.payload)
			}
			continue // an exact duplicate: allowed
		}
		first[key] = m.payload
		boots[m.m.Boot] = true
		if m.m.Historical {
			historical++
		}
		for _, e := range m.m.Events {
			if e.Type == wire.TypeDevice && e.State == "offline" {
				offline++
			}
		}
		for _, s := range m.m.Samples {
			v, ok := s.Value.(float64)
			if !ok || s.Quality != "good" {
				continue
			}
			if s.TS < lastTS[s.Point] || v < lastVal[s.Point] && lastVal[s.Point]-v < 30000 {
				t.Fatalf("point %s out of order: ts %d value %v after ts %d value %v (%s)", s.Point, s.TS, v, lastTS[s.Point], lastVal[s.Point], key)
			}
			lastTS[s.Point], lastVal[s.Point] = s.TS, v
		}
	}
	if len(boots) < 2 {
		t.Errorf("records from %d boots, want at least 2 (the agent was killed and restarted)", len(boots))
	}
	if historical == 0 {
		t.Errorf("no record flagged historical, though the agent queued through a 10 s outage")
	}
	if len(lastTS) != e2ePoints {
		t.Errorf("samples for %d points, want %d", len(lastTS), e2ePoints)
	}
	t.Logf("received data 1..%d and event 1..%d from %d boots; %d historical; %d messages incl. duplicates",
		want["data"], want["event"], len(boots), historical, len(r.snapshot()))
}
