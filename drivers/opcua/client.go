package opcua

import (
	"context"
	"fmt"
	"net"
	"net/url"
	"os"
	"strings"

	"github.com/gopcua/opcua"
	"github.com/gopcua/opcua/ua"
)

// conn is everything the driver may do with a server. It has no Write and
// no Call: the agent cannot express a write to the plant (see
// readonly_test.go, which fails the build's tests if one is referenced).
type conn interface {
	Read(ctx context.Context, req *ua.ReadRequest) (*ua.ReadResponse, error)
	Browse(ctx context.Context, req *ua.BrowseRequest) (*ua.BrowseResponse, error)
	NamespaceArray(ctx context.Context) ([]string, error)
	Subscribe(ctx context.Context, p *opcua.SubscriptionParameters, ch chan<- *opcua.PublishNotificationData) (*opcua.Subscription, error)
	State() opcua.ConnState
	Close(ctx context.Context) error
}

// dialer holds what connecting needs; built once per device.
type dialer struct {
	endpoint string
	mode     ua.MessageSecurityMode
	policy   string // URI
	trust    trust
	auth     authConf
	appURI   string
	stateDir string
	certFile string // configured client certificate; "": generated in stateDir
	keyFile  string
	opts     []opcua.Option // timeouts and the like
}

type authConf struct {
	kind, user, passwordFile, certFile, keyFile string
}

// EnvPassword overrides auth.password_file for every OPC UA device.
const EnvPassword = "CANARY_OPCUA_PASSWORD"

// dial asks the server for its endpoints, verifies its certificate, then
// opens a channel and session with the library's auto-reconnect off: the
// Source owns reconnecting.
func (d *dialer) dial(ctx context.Context, onState func(opcua.ConnState)) (conn, error) {
	eps, err := opcua.GetEndpoints(ctx, d.endpoint, d.opts...)
	if err != nil {
		return nil, fmt.Errorf("opcua: %s: get endpoints: %w", d.endpoint, err)
	}
	ep, err := opcua.SelectEndpoint(eps, d.policy, d.mode)
	if err != nil {
		return nil, fmt.Errorf("%w: %s offers no %s/%s endpoint", ErrNoEndpoint, d.endpoint, policyName(d.policy), d.mode)
	}
	opts := append([]opcua.Option{opcua.AutoReconnect(false), opcua.ApplicationURI(d.appURI),
		opcua.ApplicationName("canary"), opcua.ProductURI("urn:canary"), opcua.StateChangedFunc(onState)}, d.opts...)
	if d.mode != ua.MessageSecurityModeNone {
		if err := d.trust.check(ep.ServerCertificate); err != nil {
			return nil, fmt.Errorf("opcua: %s: %w", d.endpoint, err)
		}
		id, err := d.identity()
		if err != nil {
			return nil, err
		}
		opts = append(opts, opcua.Certificate(id.cert.Raw), opcua.PrivateKey(id.key))
	}
	auth, err := d.authOptions()
	if err != nil {
		return nil, err
	}
	opts = append(opts, auth...)
	opts = append(opts, opcua.SecurityFromEndpoint(ep, d.tokenType()))
	c, err := opcua.NewClient(d.endpoint, opts...)
	if err != nil {
		return nil, fmt.Errorf("opcua: %s: %w", d.endpoint, err)
	}
	if err := c.Connect(ctx); err != nil {
		c.Close(context.Background())
		return nil, fmt.Errorf("opcua: %s: connect: %w", d.endpoint, err)
	}
	return c, nil
}

func (d *dialer) identity() (identity, error) {
	if d.certFile != "" {
		return loadCert(d.certFile, d.keyFile)
	}
	return loadOrCreateCert(d.stateDir, d.appURI)
}

func (d *dialer) tokenType() ua.UserTokenType {
	switch d.auth.kind {
	case "username":
		return ua.UserTokenTypeUserName
	case "certificate":
		return ua.UserTokenTypeCertificate
	}
	return ua.UserTokenTypeAnonymous
}

// authOptions reads the password at every connect, so a rotated file is
// picked up by the next reconnect. It is never logged.
func (d *dialer) authOptions() ([]opcua.Option, error) {
	switch d.auth.kind {
	case "username":
		pw := os.Getenv(EnvPassword)
		if pw == "" && d.auth.passwordFile != "" {
			b, err := os.ReadFile(d.auth.passwordFile)
			if err != nil {
				return nil, fmt.Errorf("%w: auth.password_file: %w", ErrConfig, err)
			}
			pw = strings.TrimRight(string(b), "\r\n")
		}
		return []opcua.Option{opcua.AuthUsername(d.auth.user, pw)}, nil
	case "certificate":
		id, err := loadCert(d.auth.certFile, d.auth.keyFile)
		if err != nil {
			return nil, fmt.Errorf("%w: auth certificate: %w", ErrConfig, err)
		}
		return []opcua.Option{opcua.AuthCertificate(id.cert.Raw), opcua.AuthPrivateKey(id.key)}, nil
	}
	return []opcua.Option{opcua.AuthAnonymous()}, nil
}

func policyName(uri string) string {
	return strings.TrimPrefix(uri, "http://opcfoundation.org/UA/SecurityPolicy#")
}

// loopback reports whether an opc.tcp endpoint is on this host.
func loopback(endpoint string) bool {
	u, err := url.Parse(endpoint)
	if err != nil {
		return false
	}
	h := u.Hostname()
	if h == "localhost" {
		return true
	}
	ip := net.ParseIP(h)
	return ip != nil && ip.IsLoopback()
}
