package mqtt

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"
	"github.com/eclipse/paho.mqtt.golang/packets"

	"canary/drivers"
)

// Sink is a drivers.Sink over one MQTT connection at a time. It is safe for
// concurrent use. Lock order: turn before mu.
type Sink struct {
	opts    Options
	targets []target // the brokers; one unless a cluster
	slots   chan struct{}

	turn chan struct{} // a one-slot semaphore serialising Connect and Close
	mu   sync.Mutex
	cur  *conn // nil when never connected or after Close
	gen  uint64
	next int // index in targets of the broker in use, or tried next
}

var _ drivers.Sink = (*Sink)(nil)

// conn is one paho client = one network connection (one generation).
type conn struct {
	gen    uint64
	t      target
	client paho.Client
	lost   chan struct{}
	once   sync.Once
}

func (c *conn) markLost() { c.once.Do(func() { close(c.lost) }) }

func (c *conn) isLost() bool {
	select {
	case <-c.lost:
		return true
	default:
		return false
	}
}

var closedChan = func() chan struct{} { c := make(chan struct{}); close(c); return c }()

func newSink(o Options, targets []target) *Sink {
	return &Sink{opts: o, targets: targets,
		slots: make(chan struct{}, o.MaxInflight), turn: make(chan struct{}, 1)}
}

// take waits for the Connect/Close turn, honouring ctx.
func (s *Sink) take(ctx context.Context) error {
	select {
	case s.turn <- struct{}{}:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Endpoint is the URL, without credentials, of the broker in use (or,
// while disconnected, of the one the next Connect tries).
func (s *Sink) Endpoint() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.targets[s.next].endpoint
}

// current returns the live connection, or nil.
func (s *Sink) current() *conn {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cur == nil || s.cur.isLost() {
		return nil
	}
	return s.cur
}

// Lost closes when the current connection ends; without a connection it
// is already closed.
func (s *Sink) Lost() <-chan struct{} {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cur == nil {
		return closedChan
	}
	return s.cur.lost
}

// Connect dials once with a fresh paho client. It returns nil at once if
// a connection is live. On ctx's end it returns ctx.Err() and the attempt
// is abandoned in the background (bounded by ConnectTimeout).
func (s *Sink) Connect(ctx context.Context) error {
	if err := s.take(ctx); err != nil {
		return err
	}
	defer func() { <-s.turn }()
	if s.current() != nil {
		return nil
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	s.mu.Lock()
	s.gen++
	c := &conn{gen: s.gen, t: s.targets[s.next], lost: make(chan struct{})}
	s.mu.Unlock()
	c.client = paho.NewClient(s.clientOptions(c))
	log := s.opts.Log.With("endpoint", c.t.endpoint, "client_id", s.opts.ClientID, "conn", c.gen)
	tok := c.client.Connect()
	select {
	case <-tok.Done():
	case <-ctx.Done():
		go abandon(c, tok)
		log.Debug("mqtt: connect abandoned", "err", ctx.Err())
		s.failover()
		return ctx.Err()
	}
	if err := tok.Error(); err != nil {
		log.Debug("mqtt: connect failed", "err", err)
		s.failover()
		if refused(err) {
			return fmt.Errorf("mqtt: connect %s: %w: %w", c.t.endpoint, drivers.ErrRefused, err)
		}
		return fmt.Errorf("mqtt: connect %s: %w", c.t.endpoint, err)
	}
	s.mu.Lock()
	s.cur = c
	s.mu.Unlock()
	log.Debug("mqtt: connected")
	return nil
}

// refused reports a CONNACK refusal that a retry will meet again ("server
// unavailable" is not one of them).
func refused(err error) bool {
	for _, e := range []error{packets.ErrorRefusedBadUsernameOrPassword, packets.ErrorRefusedNotAuthorised,
		packets.ErrorRefusedIDRejected, packets.ErrorRefusedBadProtocolVersion} {
		if errors.Is(err, e) {
			return true
		}
	}
	return false
}

// abandon waits for an abandoned Connect and closes it cleanly if it
// succeeded (a clean DISCONNECT, so no stray will is published).
func abandon(c *conn, tok paho.Token) {
	<-tok.Done()
	if tok.Error() == nil {
		c.client.Disconnect(250)
	}
	c.markLost()
}

func (s *Sink) clientOptions(c *conn) *paho.ClientOptions {
	o := paho.NewClientOptions().
		AddBroker(c.t.broker).
		SetClientID(s.opts.ClientID).
		SetUsername(s.opts.Username).
		SetPassword(s.opts.Password).
		SetProtocolVersion(4). // no silent retry as 3.1 after a refusal
		SetCleanSession(true).
		SetResumeSubs(false).
		SetAutoReconnect(false).
		SetConnectRetry(false).
		SetStore(paho.NewMemoryStore()).
		SetOrderMatters(false).
		SetKeepAlive(s.opts.Keepalive).
		SetPingTimeout(min(s.opts.Keepalive, 10*time.Second)).
		SetConnectTimeout(s.opts.ConnectTimeout).
		SetWriteTimeout(s.opts.ConnectTimeout).
		SetConnectionLostHandler(func(_ paho.Client, err error) {
			s.opts.Log.Warn("mqtt: connection lost", "endpoint", c.t.endpoint, "conn", c.gen, "err", err)
			c.markLost()
		})
	if s.opts.TLS != nil {
		o.SetTLSConfig(s.opts.TLS)
	}
	if w := s.opts.Will; w != nil {
		o.SetBinaryWill(w.Topic, w.Payload, 1, w.Retained)
	}
	return o
}

// Close sends DISCONNECT (the broker then discards the will) and closes
// the connection, waiting at most until ctx ends. Deliveries not yet
// acknowledged fail. The Sink may Connect again afterwards.
func (s *Sink) Close(ctx context.Context) error {
	if err := s.take(ctx); err != nil {
		return fmt.Errorf("mqtt: close: %w", err)
	}
	defer func() { <-s.turn }()
	s.mu.Lock()
	c := s.cur
	s.cur = nil
	s.mu.Unlock()
	if c == nil || c.isLost() {
		return nil // nothing to close: paho already tore the link down
	}
	defer c.markLost()
	done := make(chan struct{})
	go func() { c.client.Disconnect(500); close(done) }()
	select {
	case <-done:
		s.opts.Log.Info("mqtt: closed", "endpoint", c.t.endpoint, "conn", c.gen)
		return nil
	case <-ctx.Done():
		return fmt.Errorf("mqtt: close: %w", ctx.Err())
	}
}

// Subscribe subscribes at QoS 1 on the current connection. Subscriptions
// do not survive the connection (clean session): subscribe again after
// every Connect. h runs on a paho goroutine, possibly concurrently with
// itself; it must be quick (the PUBACK to the broker waits for it) and must
// not call the Sink synchronously.
func (s *Sink) Subscribe(ctx context.Context, topic string, h drivers.Handler) error {
	c := s.current()
	if c == nil {
		return drivers.ErrNotConnected
	}
	tok := c.client.Subscribe(topic, 1, func(_ paho.Client, m paho.Message) {
		h(m.Topic(), m.Payload())
	})
	select {
	case <-tok.Done():
	case <-c.lost:
		return fmt.Errorf("mqtt: subscribe %q: %w", topic, drivers.ErrNotConnected)
	case <-ctx.Done():
		return fmt.Errorf("mqtt: subscribe %q: %w", topic, ctx.Err())
	}
	if err := tok.Error(); err != nil {
		return fmt.Errorf("mqtt: subscribe %q: %w", topic, err)
	}
	if st, ok := tok.(*paho.SubscribeToken); ok && st.Result()[topic] == 0x80 {
		return fmt.Errorf("mqtt: subscribe %q: refused by broker", topic)
	}
	return nil
}

// failover makes the next broker of a cluster the one to try: after a
// failed attempt, the caller's back-off runs, then the next node is tried.
func (s *Sink) failover() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.next = (s.next + 1) % len(s.targets)
}
