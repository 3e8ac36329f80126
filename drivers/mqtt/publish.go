package mqtt

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"

	"canary/drivers"
)

// ErrAckTimeout is reported by a Delivery when the connection stayed up
// but no PUBACK came within Options.AckTimeout.
var ErrAckTimeout = errors.New("mqtt: no PUBACK in time")

// delivery implements drivers.Delivery; the first finish wins.
type delivery struct {
	done chan struct{}
	once sync.Once
	err  error
}

func newDelivery() *delivery { return &delivery{done: make(chan struct{})} }

func failed(err error) *delivery {
	d := newDelivery()
	d.finish(err)
	return d
}

func (d *delivery) finish(err error) {
	d.once.Do(func() { d.err = err; close(d.done) })
}

func (d *delivery) Done() <-chan struct{} { return d.done }

// Err is valid once Done is closed; nil means the broker sent PUBACK.
func (d *delivery) Err() error {
	select {
	case <-d.done:
		return d.err
	default:
		return nil
	}
}

// Publish sends m at QoS 1 on the current connection. It returns once paho
// has taken the packet (so calls from one goroutine go out in order), or
// when ctx ends (the Delivery then fails with ctx's error), or after
// ConnectTimeout if the socket is stuck. ctx bounds only this hand-off, not
// the wait for the PUBACK, so a caller may cancel it as soon as Publish
// returns. The Delivery succeeds only on this message's PUBACK; it fails if
// the connection ends first or after AckTimeout.
func (s *Sink) Publish(ctx context.Context, m drivers.Message) drivers.Delivery {
	c := s.current()
	if c == nil {
		return failed(drivers.ErrNotConnected)
	}
	select {
	case s.slots <- struct{}{}:
	case <-c.lost:
		return failed(drivers.ErrNotConnected)
	case <-ctx.Done():
		return failed(ctx.Err())
	}
	d := newDelivery()
	handed := make(chan struct{})
	go s.track(c, m, d, handed)
	select {
	case <-handed:
	case <-c.lost: // paho's Publish may block until WriteTimeout on a dead link
		d.finish(drivers.ErrNotConnected)
	case <-ctx.Done():
		d.finish(ctx.Err())
	}
	return d
}

// track hands m to paho, waits for the outcome and frees the slot.
func (s *Sink) track(c *conn, m drivers.Message, d *delivery, handed chan struct{}) {
	defer func() { <-s.slots }()
	tok := c.client.Publish(m.Topic, 1, m.Retained, m.Payload)
	close(handed)
	timer := time.NewTimer(s.opts.AckTimeout)
	defer timer.Stop()
	var cause error
	select {
	case <-tok.Done():
	case <-c.lost:
		cause = drivers.ErrNotConnected
	case <-timer.C:
		cause = ErrAckTimeout
	}
	d.finish(outcome(tok, cause, m.Topic))
}

// outcome decides a Delivery. It is the one place that may report success,
// and only when the token is complete with no error: in paho v1.5.1 that
// happens for a QoS 1 publish only when its PUBACK arrived (net.go,
// startIncomingComms: getToken(id).flowComplete()). Every other completion
// sets an error first (messageids.go cleanUp, net.go write failure,
// client.go Publish timeout / not connected). A token still pending when
// the connection is reported lost will never be acknowledged: paho
// processes every received PUBACK before it runs cleanUp and then the
// connection-lost handler (client.go internalConnLost). See doc.go.
func outcome(tok paho.Token, cause error, topic string) error {
	select {
	case <-tok.Done():
		if err := tok.Error(); err != nil {
			if cause == nil {
				cause = drivers.ErrNotConnected // paho errors all mean the link failed
			}
			return fmt.Errorf("mqtt: publish %q: %w (%v)", topic, cause, err)
		}
		return nil
	default:
		return fmt.Errorf("mqtt: publish %q: %w", topic, cause)
	}
}
