package mqtt

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/url"
	"os"
	"time"

	"canary/config"
	"canary/drivers"
)

// Options configures a Sink. Zero durations and sizes take the defaults
// below.
type Options struct {
	// URL of the broker: tcp:// mqtt:// ssl:// tls:// mqtts:// ws:// wss://.
	// Credentials in the URL are used when Username is empty and never
	// appear in Endpoint or logs.
	URL string
	// URLs, when set instead of URL, are the nodes of a broker cluster:
	// Connect tries the current one, and after a failed attempt moves on
	// to the next (the caller backs off between attempts). They must all
	// be TLS or all plaintext.
	URLs     []string
	ClientID string
	Username string
	Password string
	// TLS is used for ssl, tls, mqtts and wss; nil means system roots,
	// TLS 1.2 minimum. Ignored for plaintext schemes.
	TLS *tls.Config
	// Keepalive (default 30s): a dead link is noticed after about 1.5×.
	Keepalive time.Duration
	// ConnectTimeout (default 10s) bounds dial + CONNACK; it is also the
	// write timeout for a publish (how long Publish may wait for the
	// socket).
	ConnectTimeout time.Duration
	// AckTimeout (default 30s) bounds the wait for a PUBACK on a live
	// connection; past it the Delivery fails (the outbox resends: a
	// possible duplicate, never a loss).
	AckTimeout time.Duration
	// MaxInflight (default 100, at most 65535) bounds publishes awaiting a
	// PUBACK; Publish waits (honouring ctx) for a free slot.
	MaxInflight int
	// Will is published by the broker, QoS 1, if the connection ends
	// without a clean Close.
	Will *drivers.Message
	Log  *slog.Logger
}

const (
	defaultKeepalive      = 30 * time.Second
	defaultConnectTimeout = 10 * time.Second
	defaultAckTimeout     = 30 * time.Second
	defaultMaxInflight    = 100
)

// schemes maps accepted URL schemes to paho's, and says which use TLS.
var schemes = map[string]struct {
	paho, port string
	tls        bool
}{
	"tcp":   {"tcp", "1883", false},
	"mqtt":  {"tcp", "1883", false},
	"ssl":   {"ssl", "8883", true},
	"tls":   {"tls", "8883", true},
	"mqtts": {"ssl", "8883", true},
	"ws":    {"ws", "", false},
	"wss":   {"wss", "", true},
}

// New validates o and returns an unconnected Sink. It does no I/O.
func New(o Options) (*Sink, error) {
	urls := o.URLs
	if len(urls) == 0 {
		urls = []string{o.URL}
	}
	var targets []target
	secure := false
	for i, raw := range urls {
		t, isTLS, err := parseTarget(raw, &o)
		if err != nil {
			return nil, err
		}
		if i > 0 && isTLS != secure {
			return nil, errors.New("mqtt: urls mix TLS and plaintext schemes")
		}
		secure = isTLS
		targets = append(targets, t)
	}
	if !secure {
		o.TLS = nil
	} else if o.TLS == nil {
		o.TLS = &tls.Config{MinVersion: tls.VersionTLS12}
	}
	if err := o.defaults(); err != nil {
		return nil, err
	}
	return newSink(o, targets), nil
}

// target is one broker: the URL as paho wants it and as shown.
type target struct {
	broker   string // URL as paho wants it
	endpoint string // URL without credentials, for status and logs
}

// parseTarget checks one broker URL. Credentials in it fill o's when
// o has no username.
func parseTarget(raw string, o *Options) (target, bool, error) {
	u, err := url.Parse(raw)
	if err != nil {
		return target{}, false, fmt.Errorf("mqtt: url: %w", redactURLError(err))
	}
	sc, ok := schemes[u.Scheme]
	if !ok {
		return target{}, false, fmt.Errorf("mqtt: url scheme %q: want tcp, mqtt, ssl, tls, mqtts, ws or wss", u.Scheme)
	}
	if u.Hostname() == "" {
		return target{}, false, errors.New("mqtt: url has no host")
	}
	if u.User != nil && o.Username == "" {
		o.Username = u.User.Username()
		o.Password, _ = u.User.Password()
	}
	u.User = nil
	endpoint := u.String()
	u.Scheme = sc.paho
	if u.Port() == "" && sc.port != "" {
		u.Host = net.JoinHostPort(u.Hostname(), sc.port)
	}
	return target{broker: u.String(), endpoint: endpoint}, sc.tls, nil
}

func (o *Options) defaults() error {
	if o.MaxInflight < 0 || o.MaxInflight > 65535 {
		return fmt.Errorf("mqtt: max_inflight %d: want 1..65535", o.MaxInflight)
	}
	if o.Keepalive < 0 || o.ConnectTimeout < 0 || o.AckTimeout < 0 {
		return errors.New("mqtt: negative duration")
	}
	if o.Will != nil && o.Will.Topic == "" {
		return errors.New("mqtt: will has no topic")
	}
	o.Keepalive = or(o.Keepalive, defaultKeepalive)
	o.ConnectTimeout = or(o.ConnectTimeout, defaultConnectTimeout)
	o.AckTimeout = or(o.AckTimeout, defaultAckTimeout)
	o.MaxInflight = or(o.MaxInflight, defaultMaxInflight)
	if o.Log == nil {
		o.Log = slog.New(slog.DiscardHandler)
	}
	return nil
}

func or[T comparable](v, def T) T {
	var zero T
	if v == zero {
		return def
	}
	return v
}

// redactURLError drops the URL text (it may hold a password) from a parse
// error.
func redactURLError(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		return ue.Err
	}
	return err
}

// FromConfig builds a Sink from the platform config. TLS settings are
// loaded here (files read, certificates parsed) so a bad CA fails now.
func FromConfig(c config.MQTT, will *drivers.Message, log *slog.Logger) (*Sink, error) {
	tc, err := TLSConfig(c.TLS)
	if err != nil {
		return nil, err
	}
	return New(Options{
		URL:            c.URL,
		URLs:           c.URLs,
		ClientID:       c.ClientID,
		Username:       c.Username,
		Password:       c.Password.Reveal(),
		TLS:            tc,
		Keepalive:      c.Keepalive.D(),
		ConnectTimeout: c.ConnectTimeout.D(),
		MaxInflight:    c.MaxInflight,
		Will:           will,
		Log:            log,
	})
}

// TLSConfig turns config.TLS into a client tls.Config: TLS 1.2 minimum,
// RootCAs from CAFile (system roots if empty), an optional client
// certificate, ServerName and InsecureSkipVerify only as configured.
func TLSConfig(c config.TLS) (*tls.Config, error) {
	tc := &tls.Config{
		MinVersion:         tls.VersionTLS12,
		ServerName:         c.ServerName,
		InsecureSkipVerify: c.InsecureSkipVerify,
	}
	if c.CAFile != "" {
		pem, err := os.ReadFile(c.CAFile)
		if err != nil {
			return nil, fmt.Errorf("mqtt: tls ca_file: %w", err)
		}
		tc.RootCAs = x509.NewCertPool()
		if !tc.RootCAs.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("mqtt: tls ca_file %s: no PEM certificates", c.CAFile)
		}
	}
	if (c.CertFile == "") != (c.KeyFile == "") {
		return nil, errors.New("mqtt: tls cert_file and key_file go together")
	}
	if c.CertFile != "" {
		cert, err := tls.LoadX509KeyPair(c.CertFile, c.KeyFile)
		if err != nil {
			return nil, fmt.Errorf("mqtt: tls client certificate: %w", err)
		}
		tc.Certificates = []tls.Certificate{cert}
	}
	return tc, nil
}
