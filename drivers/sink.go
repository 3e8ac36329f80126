package drivers

import (
	"context"
	"errors"
)

// Message is one publish.
type Message struct {
	Topic    string
	Payload  []byte
	Retained bool
}

// Delivery is the fate of one published message. Done closes when the
// broker acknowledged it (Err() == nil) or when it can no longer be
// acknowledged on this connection (Err() != nil, for example
// ErrNotConnected). A nil Err means the broker holds the message.
type Delivery interface {
	Done() <-chan struct{}
	Err() error
}

// ErrNotConnected is returned or reported when the sink has no connection;
// the caller reconnects.
var ErrNotConnected = errors.New("drivers: sink not connected")

// ErrRefused wraps a connect the platform answered and refused (bad
// credentials, not authorised, client id rejected): retrying at once
// will not help, so the agent waits longer than for a network failure.
var ErrRefused = errors.New("drivers: refused by the platform")

// Handler receives an inbound message on a subscribed topic.
type Handler func(topic string, payload []byte)

// Sink is a connection to the platform. Connect dials once (the agent owns
// retries and back-off) and returns when connected or failed. Lost closes
// when that connection ends. Publish is asynchronous; it never stores or
// retries: at-least-once is the outbox's job. Publish may hold on to
// m.Payload until the Delivery is done; once it succeeded, the caller may
// reuse the bytes (after a failure it must not: the sink may still hold
// them).
type Sink interface {
	Connect(ctx context.Context) error
	Lost() <-chan struct{}
	Publish(ctx context.Context, m Message) Delivery
	Subscribe(ctx context.Context, topic string, h Handler) error
	// Close ends the connection cleanly (the broker does not send the will).
	Close(ctx context.Context) error
	// Endpoint names the broker currently in use, for status.
	Endpoint() string
}
