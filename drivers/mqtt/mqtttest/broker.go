package mqtttest

import (
	"crypto/subtle"
	"crypto/tls"
	"fmt"
	"io"
	"log/slog"
	"sync"
	"sync/atomic"
	"testing"

	mochi "github.com/mochi-mqtt/server/v2"
	"github.com/mochi-mqtt/server/v2/packets"
)

// BrokerOptions configures an in-process broker. The zero value is a
// plaintext broker that accepts every client.
type BrokerOptions struct {
	// Username and Password, when Username is set, are the only
	// credentials accepted; any other CONNECT is refused with a
	// bad-username-or-password CONNACK.
	Username string
	Password string
	// TLS, when set, makes the listener speak TLS (URL then says ssl://).
	TLS *tls.Config
	// Log receives the broker's own logs; nil discards them.
	Log *slog.Logger
}

// Broker is a mochi-mqtt broker on 127.0.0.1 with outage knobs. Its inline
// client (Publish, Record) lives inside the process and so survives Stop.
type Broker struct {
	srv   *mochi.Server
	tls   *tls.Config
	subID atomic.Int64

	mu   sync.Mutex
	addr string
	ln   *outageListener
	gen  int
}

// NewBroker starts a broker on a free loopback port. Close it when done.
func NewBroker(opts BrokerOptions) (*Broker, error) {
	log := opts.Log
	if log == nil {
		log = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	srv := mochi.New(&mochi.Options{InlineClient: true, Logger: log})
	hook := &authHook{user: opts.Username, pass: opts.Password}
	if err := srv.AddHook(hook, nil); err != nil {
		return nil, fmt.Errorf("mqtttest: add auth hook: %w", err)
	}
	if err := srv.Serve(); err != nil {
		return nil, fmt.Errorf("mqtttest: serve: %w", err)
	}
	b := &Broker{srv: srv, tls: opts.TLS, addr: "127.0.0.1:0"}
	if err := b.Start(); err != nil {
		srv.Close()
		return nil, err
	}
	return b, nil
}

// StartBroker is NewBroker for tests; the broker is closed at cleanup.
func StartBroker(t testing.TB, opts BrokerOptions) *Broker {
	t.Helper()
	b, err := NewBroker(opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(b.Close)
	return b
}

// Addr is "127.0.0.1:port"; the port stays the same across Stop/Start.
func (b *Broker) Addr() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.addr
}

// URL is the broker's URL for a client: tcp://addr, or ssl://addr with TLS.
func (b *Broker) URL() string {
	if b.tls != nil {
		return "ssl://" + b.Addr()
	}
	return "tcp://" + b.Addr()
}

// Server exposes the mochi server for knobs this type does not wrap.
func (b *Broker) Server() *mochi.Server { return b.srv }

// Start listens again on the same port after Stop (retrying the bind for
// a few seconds). It is a no-op while listening.
func (b *Broker) Start() error {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.ln != nil {
		return nil
	}
	b.gen++
	ln := &outageListener{id: fmt.Sprintf("mqtttest-%d", b.gen), addr: b.addr, tls: b.tls}
	if err := b.srv.AddListener(ln); err != nil {
		return fmt.Errorf("mqtttest: listen %s: %w", b.addr, err)
	}
	b.srv.Listeners.Serve(ln.ID(), b.srv.EstablishConnection)
	b.ln, b.addr = ln, ln.Address()
	return nil
}

// Stop is an outage: it closes the listener and drops every client
// connection without a DISCONNECT. Because mochi itself stays alive in the
// process it sees the drops as abnormal and publishes the clients' wills
// (a crashed real broker would not).
func (b *Broker) Stop() {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.ln == nil {
		return
	}
	b.srv.Listeners.Close(b.ln.ID(), nil)
	b.srv.Listeners.Delete(b.ln.ID())
	b.ln = nil
}

// Close stops the broker for good.
func (b *Broker) Close() {
	b.Stop()
	b.srv.Close()
}

// DropClient cuts the TCP connection of the client with this id, as a
// network failure would: the broker then publishes its will. It reports
// whether such a client was connected.
func (b *Broker) DropClient(id string) bool {
	cl, ok := b.srv.Clients.Get(id)
	if !ok || cl.Closed() || cl.Net.Conn == nil {
		return false
	}
	cl.Net.Conn.Close()
	return true
}

// Connected reports whether a client with this id is connected.
func (b *Broker) Connected(id string) bool {
	cl, ok := b.srv.Clients.Get(id)
	return ok && !cl.Closed()
}

// Publish injects a message from the broker's inline client.
func (b *Broker) Publish(topic string, payload []byte, retained bool) error {
	return b.srv.Publish(topic, payload, retained, 1)
}

// Retained returns the message retained on topic, if any.
func (b *Broker) Retained(topic string) (Msg, bool) {
	for _, pk := range b.srv.Topics.Messages(topic) {
		if pk.TopicName == topic {
			return msgFromPacket(pk, true), true
		}
	}
	return Msg{}, false
}

// Record subscribes an inline recorder to filter. Inline subscriptions live
// in the broker process, so the recorder survives Stop/Start and sees
// exactly what the broker accepted.
func (b *Broker) Record(filter string) (*Recorder, error) {
	id := int(b.subID.Add(1))
	r := newRecorder()
	err := b.srv.Subscribe(filter, id, func(_ *mochi.Client, _ packets.Subscription, pk packets.Packet) {
		r.add(msgFromPacket(pk, pk.FixedHeader.Retain))
	})
	if err != nil {
		return nil, fmt.Errorf("mqtttest: record %q: %w", filter, err)
	}
	r.stop = func() error { return b.srv.Unsubscribe(filter, id) }
	return r, nil
}

type authHook struct {
	mochi.HookBase
	user, pass string
}

func (h *authHook) ID() string { return "mqtttest-auth" }

func (h *authHook) Provides(b byte) bool {
	return b == mochi.OnConnectAuthenticate || b == mochi.OnACLCheck
}

func (h *authHook) OnConnectAuthenticate(_ *mochi.Client, pk packets.Packet) bool {
	if h.user == "" {
		return true
	}
	u := subtle.ConstantTimeCompare(pk.Connect.Username, []byte(h.user))
	p := subtle.ConstantTimeCompare(pk.Connect.Password, []byte(h.pass))
	return u&p == 1
}

func (h *authHook) OnACLCheck(*mochi.Client, string, bool) bool { return true }
