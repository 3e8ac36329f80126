// Package opcuatest runs the in-process gopcua server on a loopback port
// for tests: variables by name in one namespace, values with the source
// timestamp a test chooses, Bad status codes on demand, and a restart on
// the same port to exercise reconnects.
package opcuatest

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"fmt"
	"math/big"
	"net"
	"net/url"
	"sync"
	"testing"
	"time"

	"github.com/gopcua/opcua/server"
	"github.com/gopcua/opcua/ua"
)

// NamespaceURI is the URI of the test variables' namespace.
const NamespaceURI = "urn:canary:test"

// Options are the fault and layout knobs; the zero value serves security
// None, Basic256Sha256 and Aes128_Sha256_RsaOaep (SignAndEncrypt),
// Aes256_Sha256_RsaPss (Sign and SignAndEncrypt); anonymous, username
// (any password: the gopcua server does not check it) and certificate.
type Options struct {
	// Padding adds this many namespaces before NamespaceURI, to move its
	// index (as a server renumbering after an update does).
	Padding int
	// Vars are the variables and their initial values.
	Vars map[string]any
}

// Server is a running test server. Methods are safe for concurrent use.
type Server struct {
	t    testing.TB
	Port int
	URL  string
	Cert []byte // DER
	key  *rsa.PrivateKey

	mu   sync.Mutex
	srv  *server.Server
	ns   *server.NodeNameSpace
	vals map[string]*ua.DataValue
	opts Options
	stop context.CancelFunc
}

// Start runs a server on a free loopback port; the test's cleanup stops it.
func Start(t testing.TB, o Options) *Server {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := l.Addr().(*net.TCPAddr).Port
	l.Close()
	cert, key := NewCert(t, "urn:canary:test:server")
	s := &Server{t: t, Port: port, URL: fmt.Sprintf("opc.tcp://127.0.0.1:%d", port), Cert: cert, key: key,
		vals: map[string]*ua.DataValue{}, opts: o}
	for k, v := range o.Vars {
		s.vals[k] = dv(v, ua.StatusOK, time.Now())
	}
	s.start()
	t.Cleanup(s.Stop)
	return s
}

func (s *Server) start() {
	s.t.Helper()
	s.mu.Lock()
	defer s.mu.Unlock()
	srv := server.New(
		server.EndPoint("127.0.0.1", s.Port),
		server.EnableSecurity("None", ua.MessageSecurityModeNone),
		server.EnableSecurity("Basic256Sha256", ua.MessageSecurityModeSignAndEncrypt),
		server.EnableSecurity("Aes128_Sha256_RsaOaep", ua.MessageSecurityModeSignAndEncrypt),
		server.EnableSecurity("Aes256_Sha256_RsaPss", ua.MessageSecurityModeSign),
		server.EnableSecurity("Aes256_Sha256_RsaPss", ua.MessageSecurityModeSignAndEncrypt),
		server.EnableAuthMode(ua.UserTokenTypeAnonymous),
		server.EnableAuthMode(ua.UserTokenTypeUserName),
		server.EnableAuthMode(ua.UserTokenTypeCertificate),
		server.Certificate(s.Cert), server.PrivateKey(s.key),
	)
	for i := range s.opts.Padding {
		server.NewNodeNameSpace(srv, fmt.Sprintf("urn:canary:padding:%d", i))
	}
	ns := server.NewNodeNameSpace(srv, NamespaceURI)
	for name := range s.vals {
		ns.AddNode(server.NewVariableNode(ua.NewStringNodeID(ns.ID(), name), name, s.valueFunc(name)))
	}
	ctx, cancel := context.WithCancel(context.Background())
	var err error
	for range 50 { // the old listener's port may linger briefly
		if err = srv.Start(ctx); err == nil {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	if err != nil {
		cancel()
		s.t.Fatalf("opcuatest: start: %v", err)
	}
	s.srv, s.ns, s.stop = srv, ns, cancel
}

func (s *Server) valueFunc(name string) func() *ua.DataValue {
	return func() *ua.DataValue {
		s.mu.Lock()
		defer s.mu.Unlock()
		v := *s.vals[name]
		return &v
	}
}

// NS is the current index of NamespaceURI.
func (s *Server) NS() uint16 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.ns.ID()
}

// Node is the ns=N;s=name form of a variable.
func (s *Server) Node(name string) string { return fmt.Sprintf("ns=%d;s=%s", s.NS(), name) }

// Set changes a variable with the given source timestamp and notifies
// subscribers. The gopcua server (v0.9.1) hands each notification to a
// subscription's channel (100 deep) while it holds the lock that the
// subscription takes when it ends: Sets racing a client's disconnect
// can block for good. Stop changing values before the client goes (the
// end-to-end benchmarks do).
func (s *Server) Set(name string, v any, ts time.Time) { s.SetStatus(name, v, ua.StatusOK, ts) }

// SetStatus sets a value and a status code (e.g. ua.StatusBadSensorFailure).
func (s *Server) SetStatus(name string, v any, st ua.StatusCode, ts time.Time) {
	s.mu.Lock()
	s.vals[name] = dv(v, st, ts)
	srv, id := s.srv, ua.NewStringNodeID(s.ns.ID(), name)
	s.mu.Unlock()
	if srv != nil {
		srv.ChangeNotification(id)
	}
}

func dv(v any, st ua.StatusCode, ts time.Time) *ua.DataValue {
	d := &ua.DataValue{EncodingMask: ua.DataValueValue | ua.DataValueSourceTimestamp | ua.DataValueServerTimestamp,
		Value: ua.MustVariant(v), SourceTimestamp: ts, ServerTimestamp: time.Now()}
	if st != ua.StatusOK {
		d.EncodingMask |= ua.DataValueStatusCode
		d.Status = st
	}
	return d
}

// Stop closes the server and every connection. Idempotent.
func (s *Server) Stop() {
	s.mu.Lock()
	srv, stop := s.srv, s.stop
	s.srv, s.stop = nil, nil
	s.mu.Unlock()
	if srv != nil {
		srv.Close()
		stop()
	}
}

// Restart starts a fresh server (no sessions, no subscriptions) on the
// same port and certificate, with padding namespaces before ours.
func (s *Server) Restart(padding int) {
	s.Stop()
	s.mu.Lock()
	s.opts.Padding = padding
	s.mu.Unlock()
	s.start()
}

// NewCert makes a self-signed RSA certificate (DER) with application URI
// uri and IP SAN 127.0.0.1.
func NewCert(t testing.TB, uri string) ([]byte, *rsa.PrivateKey) {
	t.Helper()
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	u, _ := url.Parse(uri)
	tpl := x509.Certificate{
		SerialNumber: big.NewInt(time.Now().UnixNano()),
		Subject:      pkix.Name{CommonName: "opcuatest"},
		NotBefore:    time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		KeyUsage: x509.KeyUsageDigitalSignature | x509.KeyUsageKeyEncipherment |
			x509.KeyUsageDataEncipherment | x509.KeyUsageContentCommitment | x509.KeyUsageCertSign,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth},
		BasicConstraintsValid: true,
		URIs:                  []*url.URL{u},
		IPAddresses:           []net.IP{net.IPv4(127, 0, 0, 1)},
		DNSNames:              []string{"localhost"},
	}
	der, err := x509.CreateCertificate(rand.Reader, &tpl, &tpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	return der, key
}
