package opcua

import (
	"fmt"
	"log/slog"
	"os"
	"strings"
	"time"

	"github.com/gopcua/opcua"
	"github.com/gopcua/opcua/ua"

	"canary/agent/clock"
	"canary/config"
	"canary/drivers"
)

// Driver opens OPC UA sources, one per device (one session per server).
// The zero value is ready.
type Driver struct{}

// Open builds one Source per device. It does no I/O.
func (Driver) Open(devices []config.Device, env drivers.Env) ([]drivers.Source, error) {
	out := make([]drivers.Source, 0, len(devices))
	for _, d := range devices {
		s, err := New(d, env)
		if err != nil {
			return nil, err
		}
		out = append(out, s)
	}
	return out, nil
}

// Defaults for fields a config built in code leaves zero.
const (
	DefaultPublishInterval = time.Second
	DefaultInterval        = 5 * time.Second
	DefaultTimeout         = 5 * time.Second
	// MonitorBatch bounds the items per CreateMonitoredItems request.
	MonitorBatch = 500
	// BackoffMin and BackoffMax bound the jittered reconnect back-off.
	BackoffMin = 500 * time.Millisecond
	BackoffMax = 30 * time.Second
)

// Info is what status shows about a device's security, so a weakened
// setting is visible.
type Info struct {
	Endpoint string
	Mode     string // None, Sign, SignAndEncrypt
	Policy   string
	Auth     string
	Insecure bool // security None to a host that is not loopback
	ReadMode string
}

// New builds the Source for one device without connecting.
func New(d config.Device, env drivers.Env) (*Source, error) {
	dl, err := newDialer(d, env)
	if err != nil {
		return nil, fmt.Errorf("%w: %s: %w", ErrConfig, d.ID, err)
	}
	s := &Source{
		dev:      d.ID,
		dialer:   dl,
		poll:     d.Mode == "poll",
		interval: orDefault(d.Interval.D(), DefaultInterval),
		publish:  orDefault(d.PublishInterval.D(), DefaultPublishInterval),
		timeout:  orDefault(d.Timeout.D(), DefaultTimeout),
		clock:    env.Clock,
		log:      env.Log,
		bmin:     BackoffMin,
		bmax:     BackoffMax,
	}
	s.info = Info{Endpoint: d.Endpoint, Mode: strings.TrimPrefix(dl.mode.String(), "MessageSecurityMode"), Policy: policyName(dl.policy), Auth: dl.auth.kind,
		Insecure: dl.mode == ua.MessageSecurityModeNone && !loopback(d.Endpoint), ReadMode: map[bool]string{true: "poll", false: "subscribe"}[s.poll]}
	for _, cp := range d.Points {
		p, err := compilePoint(cp, s.publish)
		if err != nil {
			return nil, fmt.Errorf("%w: %s point %s: %w", ErrConfig, d.ID, cp.ID, err)
		}
		s.points = append(s.points, p)
	}
	if s.clock == nil {
		s.clock = clock.Real{}
	}
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	if s.info.Insecure && !d.Security.AllowInsecure {
		return nil, fmt.Errorf("%w: %s: security None to %s needs security.allow_insecure", ErrConfig, d.ID, d.Endpoint)
	}
	dl.opts = []opcua.Option{opcua.RequestTimeout(s.timeout), opcua.DialTimeout(s.timeout)}
	return s, nil
}

func newDialer(d config.Device, env drivers.Env) (*dialer, error) {
	if d.Endpoint == "" {
		return nil, fmt.Errorf("no endpoint")
	}
	mode := ua.MessageSecurityModeFromString(or(d.Security.Mode, "SignAndEncrypt"))
	if mode == ua.MessageSecurityModeInvalid {
		return nil, fmt.Errorf("security mode %q", d.Security.Mode)
	}
	policy := or(d.Security.Policy, "Basic256Sha256")
	if mode == ua.MessageSecurityModeNone {
		policy = "None"
	}
	if mode != ua.MessageSecurityModeNone && d.Security.ServerCertSHA256 == "" && d.Security.TrustDir == "" {
		return nil, fmt.Errorf("security %s needs server_cert_sha256 or trust_dir", d.Security.Mode)
	}
	host, _ := os.Hostname()
	return &dialer{
		endpoint: d.Endpoint,
		mode:     mode,
		policy:   ua.FormatSecurityPolicyURI(policy),
		trust:    trust{pin: d.Security.ServerCertSHA256, dir: d.Security.TrustDir},
		auth: authConf{kind: or(d.Auth.Type, "anonymous"), user: d.Auth.Username, passwordFile: d.Auth.PasswordFile,
			certFile: d.Auth.CertFile, keyFile: d.Auth.KeyFile},
		appURI:   "urn:canary:" + or(host, "gateway"),
		stateDir: or(env.StateDir, "."),
		certFile: d.Security.CertFile,
		keyFile:  d.Security.KeyFile,
	}, nil
}

// point is a compiled configured point.
type point struct {
	id       string
	node     nodeRef
	sampling time.Duration
	queue    uint32
	deadband ua.DeadbandType
	dbValue  float64
	invert   bool // report the opposite of a boolean, as every driver does
}

func compilePoint(p config.Point, publish time.Duration) (point, error) {
	ref, err := parseNode(p.Node)
	if err != nil {
		return point{}, err
	}
	pt := point{id: p.ID, node: ref, sampling: orDefault(p.SamplingInterval.D(), publish), queue: 1, dbValue: p.DeadbandValue, invert: p.Invert}
	if p.QueueSize > 0 {
		pt.queue = uint32(p.QueueSize)
	}
	switch p.DeadbandType {
	case "", "none":
	case "absolute":
		pt.deadband = ua.DeadbandTypeAbsolute
	case "percent":
		pt.deadband = ua.DeadbandTypePercent
	default:
		return point{}, fmt.Errorf("deadband_type %q", p.DeadbandType)
	}
	return pt, nil
}

func orDefault(d, def time.Duration) time.Duration {
	if d <= 0 {
		return def
	}
	return d
}

func or(s, def string) string {
	if s == "" {
		return def
	}
	return s
}
