package config

import (
	"cmp"
	"path/filepath"
	"time"
)

// Default is every default of the agent, in one place. Parse starts from
// it, so a file only says what differs. Per-device and per-point defaults
// depend on the driver and table, so they are applied after decoding by
// ApplyDefaults, just below. Two values are derived rather than fixed and
// are resolved after validation: platform.mqtt.client_id
// ("{site.id}-{site.gateway}") and buffer.path ("{state_dir}/outbox.db").
func Default() Config {
	return Config{
		Version: 1,
		Platform: Platform{MQTT: MQTT{
			TopicPrefix:    "canary",
			Keepalive:      Duration(30 * time.Second),
			ConnectTimeout: Duration(10 * time.Second),
			MaxInflight:    64,
			ReconnectMin:   Duration(time.Second),
			// A platform that comes back is used again within seconds,
			// however long it was gone (refusals wait longer: agent).
			ReconnectMax: Duration(4 * time.Second),
		}, Commands: Commands{ApplyTimeout: Duration(5 * time.Minute)}},
		Buffer: Buffer{
			MaxBytes:     256 << 20,
			BackfillRate: 500,
		},
		StateDir: "/var/lib/canary",
		HTTP:     HTTP{Listen: "127.0.0.1:9102"},
		Log:      Log{Level: "info", Format: "text"},
		Firmware: Firmware{
			KeysFile: "/etc/canary/firmware-keys",
			MaxBytes: 64 << 20,
			Timeout:  Duration(10 * time.Minute),
		},
	}
}

// Modbus device and point defaults.
const (
	defaultTransport   = "tcp"
	defaultUnitID      = 1
	defaultInterval    = Duration(time.Second)
	defaultTimeout     = Duration(time.Second)
	defaultMaxGap      = 10
	defaultMaxInterval = Duration(60 * time.Second)
	defaultBaud        = 9600
	// defaultBackoffMax caps the back-off of a unit that stopped answering
	// (drivers/modbus falls back to the same for a config without defaults).
	defaultBackoffMax = Duration(5 * time.Minute)
)

// defaultGPIOInterval is how often dry contacts are polled; edges, where
// the host has them, only wake the poll early.
const defaultGPIOInterval = Duration(100 * time.Millisecond)

// Defaults of driver opcua: secure by default.
const (
	defaultOPCUAMode            = "SignAndEncrypt"
	defaultOPCUAPolicy          = "Basic256Sha256"
	defaultOPCUAPublishInterval = Duration(time.Second)
	defaultOPCUAInterval        = Duration(5 * time.Second)
	defaultOPCUATimeout         = Duration(5 * time.Second)
)

// ApplyDefaults fills each device's and point's unset fields. A field is
// unset when the file did not write it; for a config built in code (no
// file), when it is zero. Writing `unit_id: 0` in a file therefore keeps 0.
// Parse calls it; it is idempotent.
func (c *Config) ApplyDefaults() {
	for i := range c.Devices {
		c.Devices[i].applyDefaults(c.pos, indexPath("devices", i))
	}
	c.applyBackoffDefaults()
}

// applyBackoffDefaults fills a zero backoff_max of Modbus devices. The cap
// is a bus's (devices with one transport and address share a connection)
// and the driver takes it from the last device on the bus that sets one,
// so a device that leaves it zero gets that value, else the default: the
// effective config shows what its bus does.
func (c *Config) applyBackoffDefaults() {
	busKey := func(d *Device) string { return d.Transport + " " + d.Address }
	set := map[string]Duration{}
	for i := range c.Devices {
		if d := &c.Devices[i]; d.Driver == "modbus" && d.BackoffMax > 0 {
			set[busKey(d)] = d.BackoffMax
		}
	}
	for i := range c.Devices {
		if d := &c.Devices[i]; d.Driver == "modbus" && d.BackoffMax == 0 {
			d.BackoffMax = cmp.Or(set[busKey(d)], defaultBackoffMax)
		}
	}
}

func (d *Device) applyDefaults(pos *positions, path string) {
	unset := func(field string, zero bool) bool { return zero && !pos.has(joinPath(path, field)) }
	for i := range d.Points {
		d.Points[i].applyDefaults(d.Driver, pos, indexPath(joinPath(path, "points"), i))
	}
	if d.Driver == "opcua" {
		d.applyOPCUADefaults(unset)
	}
	if d.Driver == "gpio" {
		setIf(&d.Interval, defaultGPIOInterval, unset("interval", d.Interval == 0))
		setIf(&d.MaxInterval, defaultMaxInterval, unset("max_interval", d.MaxInterval == 0))
	}
	if d.Driver != "modbus" {
		return
	}
	setIf(&d.Transport, defaultTransport, unset("transport", d.Transport == ""))
	setIf(&d.UnitID, defaultUnitID, unset("unit_id", d.UnitID == 0))
	setIf(&d.Interval, defaultInterval, unset("interval", d.Interval == 0))
	setIf(&d.Timeout, defaultTimeout, unset("timeout", d.Timeout == 0))
	setIf(&d.MaxGap, defaultMaxGap, unset("max_gap", d.MaxGap == 0))
	setIf(&d.MaxInflight, 1, unset("max_inflight", d.MaxInflight == 0))
	setIf(&d.MaxInterval, defaultMaxInterval, unset("max_interval", d.MaxInterval == 0))
	if d.Transport == "rtu" {
		s := &d.Serial
		setIf(&s.Baud, defaultBaud, s.Baud == 0)
		setIf(&s.Parity, "N", s.Parity == "")
		setIf(&s.DataBits, 8, s.DataBits == 0)
		setIf(&s.StopBits, 1, s.StopBits == 0)
	}
}

func (d *Device) applyOPCUADefaults(unset func(field string, zero bool) bool) {
	s := &d.Security
	setIf(&s.Mode, defaultOPCUAMode, s.Mode == "")
	setIf(&s.Policy, "None", s.Policy == "" && s.Mode == "None")
	setIf(&s.Policy, defaultOPCUAPolicy, s.Policy == "")
	setIf(&d.Auth.Type, "anonymous", d.Auth.Type == "")
	setIf(&d.Mode, "subscribe", d.Mode == "")
	setIf(&d.PublishInterval, defaultOPCUAPublishInterval, unset("publish_interval", d.PublishInterval == 0))
	setIf(&d.Interval, defaultOPCUAInterval, unset("interval", d.Interval == 0))
	setIf(&d.Timeout, defaultOPCUATimeout, unset("timeout", d.Timeout == 0))
	setIf(&d.MaxInterval, defaultMaxInterval, unset("max_interval", d.MaxInterval == 0))
	for i := range d.Points {
		p := &d.Points[i]
		setIf(&p.DeadbandType, "none", p.DeadbandType == "")
		// 0 means these defaults to drivers/opcua too, written or not
		setIf(&p.SamplingInterval, d.PublishInterval, p.SamplingInterval == 0)
		setIf(&p.QueueSize, 1, p.QueueSize == 0)
	}
}

func (p *Point) applyDefaults(driver string, pos *positions, path string) {
	setIf(&p.Kind, "analog", p.Kind == "")
	setIf(&p.Scale, 1, p.Scale == 0 && !pos.has(joinPath(path, "scale")))
	if driver != "modbus" {
		return
	}
	setIf(&p.Table, "holding", p.Table == "")
	if p.Table == "coil" || p.Table == "discrete" {
		setIf(&p.Type, "bool", p.Type == "")
	}
	setIf(&p.Type, "uint16", p.Type == "")
	setIf(&p.Order, "ABCD", p.Order == "")
}

func setIf[T any](dst *T, v T, cond bool) {
	if cond {
		*dst = v
	}
}

// resolve fills the derived defaults once the values they derive from are
// known to be valid.
func (c *Config) resolve() {
	m := &c.Platform.MQTT
	setIf(&m.ClientID, c.Site.ID+"-"+c.Site.Gateway, m.ClientID == "")
	setIf(&c.Buffer.Path, filepath.Join(c.StateDir, "outbox.db"), c.Buffer.Path == "")
}
