package mqtttest

import (
	"crypto/tls"
	"log/slog"
	"net"
	"sync"
	"time"

	"github.com/mochi-mqtt/server/v2/listeners"
)

// outageListener is a mochi listener that remembers every accepted
// connection so Stop can cut them all at once, including connections that
// have not finished the MQTT handshake (mochi's own TCP listener only knows
// clients that completed CONNECT).
type outageListener struct {
	id   string
	addr string
	tls  *tls.Config

	mu    sync.Mutex
	ln    net.Listener
	conns map[net.Conn]struct{}
	done  bool
}

var _ listeners.Listener = (*outageListener)(nil)

func (l *outageListener) ID() string       { return l.id }
func (l *outageListener) Address() string  { return l.addr }
func (l *outageListener) Protocol() string { return "tcp" }

// Init binds the address, retrying briefly: after Stop the same port may
// still be held by the kernel for a moment.
func (l *outageListener) Init(*slog.Logger) error {
	var ln net.Listener
	var err error
	for deadline := time.Now().Add(3 * time.Second); ; {
		ln, err = net.Listen("tcp", l.addr)
		if err == nil || time.Now().After(deadline) {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	if err != nil {
		return err
	}
	if l.tls != nil {
		ln = tls.NewListener(ln, l.tls)
	}
	l.mu.Lock()
	l.ln, l.addr, l.conns = ln, ln.Addr().String(), map[net.Conn]struct{}{}
	l.mu.Unlock()
	return nil
}

func (l *outageListener) Serve(establish listeners.EstablishFn) {
	for {
		c, err := l.ln.Accept()
		if err != nil {
			return
		}
		if !l.track(c) {
			c.Close()
			return
		}
		go func() {
			_ = establish(l.id, c)
			l.untrack(c)
		}()
	}
}

func (l *outageListener) track(c net.Conn) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.done {
		return false
	}
	l.conns[c] = struct{}{}
	return true
}

func (l *outageListener) untrack(c net.Conn) {
	l.mu.Lock()
	delete(l.conns, c)
	l.mu.Unlock()
}

// Close closes the listener and every connection without an MQTT
// DISCONNECT: to the clients it looks like the broker vanished. closeClients
// is deliberately not called (it would send DISCONNECT to v5 clients).
func (l *outageListener) Close(listeners.CloseFn) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.done = true
	if l.ln != nil {
		l.ln.Close()
	}
	for c := range l.conns {
		c.Close()
	}
}
