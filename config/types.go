package config

import "time"

// Config is a whole agent configuration, version 1. Every field's default
// lives in Default(); Load fills what the file leaves out.
type Config struct {
	Version   int      `yaml:"version"`
	Site      Site     `yaml:"site"`
	Platform  Platform `yaml:"platform"`
	Buffer    Buffer   `yaml:"buffer"`
	StateDir  string   `yaml:"state_dir"`
	HTTP      HTTP     `yaml:"http"`
	Log       Log      `yaml:"log"`
	Devices   []Device `yaml:"devices"`
	PointsCSV []string `yaml:"points_csv"`
	Firmware  Firmware `yaml:"firmware"`
	// Profiles are reusable point maps, by name; see profile.go.
	Profiles map[string]Profile `yaml:"profiles,omitempty"`

	// File is the path the config was loaded from ("" when built in code).
	File string `yaml:"-"`
	// Hash is the SHA-256 (hex) of the file's bytes, for status.
	Hash string `yaml:"-"`

	// pos records where Parse found each field, so Validate can name
	// lines. Parse drops it once the config is valid (at 10,000 points it
	// is megabytes of paths), keeping the warnings it can still name.
	pos      *positions
	warnings Errors
	pwLine   int // line of platform.mqtt.password_file, for Load's errors

	// src is what Parse read; pointless says the devices' point lists
	// were dropped and are parsed again from src when asked for (points.go).
	src       *source
	pointless bool
}

// Site names this gateway on the platform. ID and Gateway form the topic.
type Site struct {
	ID         string `yaml:"id"`
	Gateway    string `yaml:"gateway"`
	Enterprise string `yaml:"enterprise"`
	Name       string `yaml:"name"`
}

type Platform struct {
	MQTT     MQTT     `yaml:"mqtt"`
	Commands Commands `yaml:"commands"`
}

// MQTT is the uplink. URL schemes: tcp, mqtt (plain), ssl, tls, mqtts (TLS),
// ws, wss. Plain schemes to a host that is not loopback need
// AllowPlaintext, so a cleartext uplink is always spelled out.
type MQTT struct {
	URL            string   `yaml:"url"`
	URLs           []string `yaml:"urls"`      // cluster nodes instead of url, failed over in order; not both
	ClientID       string   `yaml:"client_id"` // default {site.id}-{site.gateway}
	Username       string   `yaml:"username"`
	PasswordFile   string   `yaml:"password_file"` // or env CANARY_MQTT_PASSWORD
	TLS            TLS      `yaml:"tls"`
	TopicPrefix    string   `yaml:"topic_prefix"`
	Keepalive      Duration `yaml:"keepalive"`
	ConnectTimeout Duration `yaml:"connect_timeout"`
	AllowPlaintext bool     `yaml:"allow_plaintext"`
	// MaxInflight bounds the messages published and not yet acknowledged.
	MaxInflight int `yaml:"max_inflight"`
	// ReconnectMin and ReconnectMax bound the jittered exponential back-off.
	ReconnectMin Duration `yaml:"reconnect_min"`
	ReconnectMax Duration `yaml:"reconnect_max"`

	// Password is read from PasswordFile or the environment by Load; it is
	// never printed.
	Password Secret `yaml:"-"`
}

type TLS struct {
	CAFile             string `yaml:"ca_file"`
	CertFile           string `yaml:"cert_file"`
	KeyFile            string `yaml:"key_file"`
	ServerName         string `yaml:"server_name"`
	InsecureSkipVerify bool   `yaml:"insecure_skip_verify"`
}

type Commands struct {
	Enabled    bool     `yaml:"enabled"`
	PublicKeys []string `yaml:"public_keys"`
	// ApplyTimeout is the trial window of a config applied by command: if
	// the uplink is not back within it, the previous config is restored.
	// The running config's value applies, not the new one's.
	ApplyTimeout Duration `yaml:"apply_timeout"`
}

// Firmware governs remote updates (the signed firmware.update command;
// docs/firmware.md). They fail closed: without a keys file holding at
// least one key every update is refused. The firmware directory is not
// here: it is the launcher's (`canary firmware boot -dir`), which tells
// the agent, so the two cannot disagree.
type Firmware struct {
	// KeysFile lists the public keys trusted to sign bundles, one
	// ed25519:<base64> a line. It is read at each update, not at load.
	KeysFile string `yaml:"keys_file"`
	// MaxBytes bounds a bundle's payload, and so the download.
	MaxBytes Size `yaml:"max_bytes"`
	// Timeout bounds one firmware.update command: download and install.
	Timeout Duration `yaml:"timeout"`
}

// Buffer is the outbox.
type Buffer struct {
	Path     string `yaml:"path"`
	MaxBytes Size   `yaml:"max_bytes"`
	// BackfillRate bounds how many backlog records per second are sent
	// after a reconnect ("500/s").
	BackfillRate Rate `yaml:"backfill_rate"`
	// Retain keeps acknowledged records for audit this long ("30d"),
	// within max_bytes; 0 (default) deletes them once delivered.
	Retain Duration `yaml:"retain"`
}

type HTTP struct {
	Listen string `yaml:"listen"` // "" disables; default 127.0.0.1:9102
}

type Log struct {
	Level  string `yaml:"level"`  // debug, info, warn, error
	Format string `yaml:"format"` // text, json
}

// Device is one configured device: a Modbus unit (or a whole TCP device),
// an OPC UA server, a set of GPIO pins.
type Device struct {
	ID        string   `yaml:"id"`
	Driver    string   `yaml:"driver"`    // modbus, opcua, gpio
	Transport string   `yaml:"transport"` // modbus: tcp, rtu, rtu-over-tcp
	Address   string   `yaml:"address"`   // host:port or serial device
	Serial    Serial   `yaml:"serial"`
	UnitID    int      `yaml:"unit_id"` // default unit for points; default 1
	Interval  Duration `yaml:"interval"`
	Timeout   Duration `yaml:"timeout"`
	// MaxGap is how many unused registers (or bits) a read may bridge to
	// merge two neighbouring points into one request.
	MaxGap int `yaml:"max_gap"`
	// BackoffMax caps the back-off of a Modbus unit that stopped
	// answering (default 5m); see docs/modbus.md.
	BackoffMax Duration `yaml:"backoff_max"`
	// MaxInflight is how many Modbus TCP requests are sent before their
	// replies arrive (transaction ids tell them apart); 1, the default,
	// is one at a time, which every device supports. See docs/modbus.md.
	MaxInflight int `yaml:"max_inflight"`
	// Deadband and MaxInterval are the device-wide report-by-exception
	// defaults; points may override them.
	Deadband    float64  `yaml:"deadband"`
	MaxInterval Duration `yaml:"max_interval"`
	Points      []Point  `yaml:"points"`
	// Profile expands the named profile's points into Points (ids
	// PointsPrefix + the profile's id; prefix default "<id>."), with
	// Overrides by profile point id. Parse expands and clears them.
	Profile      string           `yaml:"profile,omitempty"`
	PointsPrefix *string          `yaml:"points_prefix,omitempty"`
	Overrides    map[string]Point `yaml:"overrides,omitempty"`

	// OPC UA (driver opcua). Interval is the polling period in mode poll
	// and the health-check period in mode subscribe; Timeout bounds each
	// request. See docs/opcua.md.
	Endpoint        string        `yaml:"endpoint"` // opc.tcp://host:port[/path]
	Security        OPCUASecurity `yaml:"security"`
	Auth            OPCUAAuth     `yaml:"auth"`
	Mode            string        `yaml:"mode"`             // subscribe (default) or poll
	PublishInterval Duration      `yaml:"publish_interval"` // subscription publishing interval
}

// OPCUASecurity secures the channel to an OPC UA server. The server's
// certificate must match ServerCertSHA256 or be in TrustDir.
type OPCUASecurity struct {
	Mode             string `yaml:"mode"`               // None, Sign, SignAndEncrypt (default)
	Policy           string `yaml:"policy"`             // Basic256Sha256 (default), Aes128_Sha256_RsaOaep, Aes256_Sha256_RsaPss
	CertFile         string `yaml:"cert_file"`          // client certificate; "": generated once into {state_dir}/opcua
	KeyFile          string `yaml:"key_file"`           // its private key
	ServerCertSHA256 string `yaml:"server_cert_sha256"` // pinned server certificate thumbprint (hex)
	TrustDir         string `yaml:"trust_dir"`          // folder of trusted server certificates (DER or PEM)
	AllowInsecure    bool   `yaml:"allow_insecure"`     // mode None to a host that is not loopback
}

// OPCUAAuth is the user identity of the session.
type OPCUAAuth struct {
	Type         string `yaml:"type"` // anonymous (default), username, certificate
	Username     string `yaml:"username"`
	PasswordFile string `yaml:"password_file"` // or env CANARY_OPCUA_PASSWORD
	CertFile     string `yaml:"cert_file"`     // type certificate
	KeyFile      string `yaml:"key_file"`
}

// Serial line settings for RTU.
type Serial struct {
	Baud     int    `yaml:"baud"`
	Parity   string `yaml:"parity"` // N, E, O
	DataBits int    `yaml:"data_bits"`
	StopBits int    `yaml:"stop_bits"`
}

// Point is one value read from a device.
type Point struct {
	ID   string `yaml:"id"`
	Kind string `yaml:"kind"` // analog (default), fault, maintenance, interlock, bypass, status
	Of   string `yaml:"of"`   // for fault/maintenance: the point they qualify

	// Modbus addressing.
	UnitID  int    `yaml:"unit_id"` // 0: the device's
	Table   string `yaml:"table"`   // coil, discrete, input, holding
	Address int    `yaml:"address"` // 0-based protocol address
	Type    string `yaml:"type"`    // bit bool int16 uint16 int32 uint32 int64 uint64 float32 float64 string
	Order   string `yaml:"order"`   // ABCD (default), CDAB, BADC, DCBA
	Bit     int    `yaml:"bit"`     // for type bit: 0..15, LSB first
	Length  int    `yaml:"length"`  // for type string: registers

	// Scaling: value = raw*scale + offset, or linear from raw range to
	// engineering range when RawMax != RawMin.
	Scale  float64 `yaml:"scale"` // default 1
	Offset float64 `yaml:"offset"`
	RawMin float64 `yaml:"raw_min"`
	RawMax float64 `yaml:"raw_max"`
	EngMin float64 `yaml:"eng_min"`
	EngMax float64 `yaml:"eng_max"`
	// Signal converts a 4–20 mA loop reading with fault bands (signal.go).
	Signal *Signal `yaml:"signal,omitempty"`

	Invert bool `yaml:"invert"` // booleans: report the opposite level

	// GPIO (driver gpio): the pin by its registry name, the bias and how
	// long a new level must hold before it counts.
	Pin      string   `yaml:"pin"`      // e.g. GPIO17
	Pull     string   `yaml:"pull"`     // up, down, none (default: leave as is)
	Debounce Duration `yaml:"debounce"` // 0: the first read of a new level counts

	// OPC UA (driver opcua): the node and its monitored-item settings.
	// DeadbandType/Value is the server-side data-change filter; Deadband
	// below is the agent's report-by-exception.
	Node             string   `yaml:"node"`              // ns=2;s=…, nsu=urn:…;s=…, i=…, g=…, b=…
	SamplingInterval Duration `yaml:"sampling_interval"` // 0: the publish interval
	QueueSize        int      `yaml:"queue_size"`        // 0: 1
	DeadbandType     string   `yaml:"deadband_type"`     // none (default), absolute, percent
	DeadbandValue    float64  `yaml:"deadband_value"`

	Unit        string            `yaml:"unit"`
	Gas         string            `yaml:"gas"`
	OEL         *float64          `yaml:"oel"`          // gas toxic: occupational exposure limit, in the point's unit
	MaxBypass   Duration          `yaml:"max_bypass"`   // kind bypass: longer is overdue; 0: never
	Deadband    *float64          `yaml:"deadband"`     // nil: the device's
	MaxInterval Duration          `yaml:"max_interval"` // 0: the device's
	Alarms      Alarms            `yaml:"alarms"`
	Meta        map[string]string `yaml:"meta"`
}

// Alarms are a point's limits; nil means not set.
type Alarms struct {
	LL         *float64 `yaml:"ll"`
	L          *float64 `yaml:"l"`
	H          *float64 `yaml:"h"`
	HH         *float64 `yaml:"hh"`
	Hysteresis float64  `yaml:"hysteresis"`
	OnDelay    Duration `yaml:"on_delay"`
	OffDelay   Duration `yaml:"off_delay"`
}

// Brokers lists the broker URLs: URLs, or URL alone.
func (m MQTT) Brokers() []string {
	if len(m.URLs) > 0 {
		return m.URLs
	}
	return []string{m.URL}
}

// Any reports whether any limit is set.
func (a Alarms) Any() bool { return a.LL != nil || a.L != nil || a.H != nil || a.HH != nil }

// Duration is a time.Duration that reads "500ms", "1m30s", "7d".
type Duration time.Duration

func (d Duration) D() time.Duration { return time.Duration(d) }

// Size is a byte count that reads "256MiB", "64KB", "1024".
type Size int64

// Rate is a count per second that reads "500/s", "30/m", "10".
type Rate float64

// Secret is a string that prints as "[redacted]".
type Secret string

func (Secret) String() string                 { return "[redacted]" }
func (Secret) GoString() string               { return "[redacted]" }
func (s Secret) MarshalText() ([]byte, error) { return []byte("[redacted]"), nil }
func (s Secret) Reveal() string               { return string(s) }
