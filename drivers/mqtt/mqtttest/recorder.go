package mqtttest

import (
	"context"
	"fmt"
	"sync"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"
	"github.com/mochi-mqtt/server/v2/packets"
)

// Msg is one message seen by a Recorder.
type Msg struct {
	Topic    string
	Payload  []byte
	Retained bool
	At       time.Time
}

// Recorder records every message on a topic filter. It is safe for
// concurrent use.
type Recorder struct {
	mu      sync.Mutex
	msgs    []Msg
	changed chan struct{} // closed and replaced on every add
	stop    func() error
}

func newRecorder() *Recorder { return &Recorder{changed: make(chan struct{})} }

func msgFromPacket(pk packets.Packet, retained bool) Msg {
	return Msg{Topic: pk.TopicName, Payload: append([]byte(nil), pk.Payload...), Retained: retained, At: time.Now()}
}

func (r *Recorder) add(m Msg) {
	r.mu.Lock()
	r.msgs = append(r.msgs, m)
	close(r.changed)
	r.changed = make(chan struct{})
	r.mu.Unlock()
}

// Messages returns a copy of what was recorded so far, in arrival order.
func (r *Recorder) Messages() []Msg {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]Msg(nil), r.msgs...)
}

// WaitFor returns nil as soon as cond holds for the recorded messages, or
// the context's error (with the message count) when ctx ends first.
func (r *Recorder) WaitFor(ctx context.Context, cond func([]Msg) bool) error {
	for {
		r.mu.Lock()
		msgs, changed := append([]Msg(nil), r.msgs...), r.changed
		r.mu.Unlock()
		if cond(msgs) {
			return nil
		}
		select {
		case <-changed:
		case <-ctx.Done():
			return fmt.Errorf("mqtttest: recorder has %d messages: %w", len(msgs), ctx.Err())
		}
	}
}

// Close stops recording.
func (r *Recorder) Close() error {
	if r.stop == nil {
		return nil
	}
	return r.stop()
}

// DialRecorder connects its own MQTT client (clean session, QoS 1) to url
// and records filter. It works with any broker, e.g. Mosquitto.
func DialRecorder(ctx context.Context, url, filter string) (*Recorder, error) {
	r := newRecorder()
	o := paho.NewClientOptions().AddBroker(url).
		SetClientID(fmt.Sprintf("mqtttest-rec-%d", time.Now().UnixNano())).
		SetCleanSession(true).SetAutoReconnect(false).SetConnectRetry(false).
		SetProtocolVersion(4).SetConnectTimeout(5 * time.Second)
	c := paho.NewClient(o)
	if err := wait(ctx, c.Connect()); err != nil {
		return nil, fmt.Errorf("mqtttest: recorder connect %s: %w", url, err)
	}
	tok := c.Subscribe(filter, 1, func(_ paho.Client, m paho.Message) {
		r.add(Msg{Topic: m.Topic(), Payload: append([]byte(nil), m.Payload()...), Retained: m.Retained(), At: time.Now()})
	})
	if err := wait(ctx, tok); err != nil {
		c.Disconnect(0)
		return nil, fmt.Errorf("mqtttest: recorder subscribe %q: %w", filter, err)
	}
	r.stop = func() error { c.Disconnect(100); return nil }
	return r, nil
}

func wait(ctx context.Context, tok paho.Token) error {
	select {
	case <-tok.Done():
		return tok.Error()
	case <-ctx.Done():
		return ctx.Err()
	}
}
