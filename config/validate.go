package config

import (
	"encoding/base64"
	"fmt"
	"net"
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"
)

// checker collects validation errors, locating each by the positions Parse
// recorded. It makes no network calls and reads no files.
type checker struct {
	c    *Config
	errs Errors
}

// Validate reports every invalid value, in line order; nil when the config
// is valid. Parse calls it after ApplyDefaults; a config built in code
// should call ApplyDefaults first. Errors about a field that failed to
// decode (or whose parent did) are left out: the decode error said it.
func (c *Config) Validate() Errors {
	v := &checker{c: c}
	if c.Version != 1 {
		v.errorf("version", "unsupported version %d (this agent reads version 1)", c.Version)
	}
	v.site()
	v.mqtt()
	v.commands()
	v.buffer()
	v.http()
	v.log()
	v.firmware()
	v.devices()
	v.errs.sortByLine()
	return v.errs
}

func (v *checker) errorf(path, format string, args ...any) {
	for p := path; p != ""; p = parentPath(p) {
		if v.c.pos.failed(p) {
			return
		}
	}
	e := v.c.pos.errorAt(v.c.File, path, fmt.Sprintf(format, args...))
	for _, prev := range v.errs { // a profile's mistake once, not once per device
		if *prev == *e || e.Path != path && prev.File == e.File && prev.Line == e.Line && prev.Path == e.Path {
			return
		}
	}
	v.errs = append(v.errs, e)
}

// oneOf reports whether s is in allowed, and reports an error if not.
func (v *checker) oneOf(path, what, s string, allowed ...string) bool {
	if slices.Contains(allowed, s) {
		return true
	}
	if s == "" {
		v.errorf(path, "required (one of %s)", strings.Join(allowed, ", "))
		return false
	}
	msg := fmt.Sprintf("unknown %s %q (want one of %s)", what, s, strings.Join(allowed, ", "))
	if sg := suggest(s, allowed); sg != "" {
		msg = fmt.Sprintf("unknown %s %q (did you mean %q?)", what, s, sg)
	}
	v.errorf(path, "%s", msg)
	return false
}

func (v *checker) intRange(path string, n, lo, hi int, why string) {
	if n < lo || n > hi {
		v.errorf(path, "%d is out of range %d..%d%s", n, lo, hi, why)
	}
}

func (v *checker) positive(path string, d Duration) {
	if d <= 0 {
		v.errorf(path, "must be more than 0, got %s", d)
	}
}

// topicSafe names go into MQTT topics: no '/', '+', '#' or spaces.
var topicSafe = regexp.MustCompile(`^[A-Za-z0-9_.-]+$`)

func (v *checker) name(path, s string) {
	switch {
	case s == "":
		v.errorf(path, "required")
	case !topicSafe.MatchString(s):
		v.errorf(path, "%q may only contain letters, digits, '_', '.' and '-' (it is part of MQTT topics)", s)
	}
}

func (v *checker) site() {
	v.name("site.id", v.c.Site.ID)
	v.name("site.gateway", v.c.Site.Gateway)
}

var (
	tlsSchemes   = []string{"ssl", "tls", "mqtts", "wss"}
	plainSchemes = []string{"tcp", "mqtt", "ws"}
)

func (v *checker) mqtt() {
	const p = "platform.mqtt."
	m := v.c.Platform.MQTT
	switch {
	case len(m.URLs) > 0 && m.URL != "":
		v.errorf(p+"urls", "give url or urls, not both")
	case len(m.URLs) > 0:
		for i, u := range m.URLs {
			v.brokerURL(indexPath(p+"urls", i), u, m.AllowPlaintext)
		}
	default:
		v.brokerURL(p+"url", m.URL, m.AllowPlaintext)
	}
	if (m.TLS.CertFile == "") != (m.TLS.KeyFile == "") {
		v.errorf(p+"tls", "cert_file and key_file go together (a client certificate needs its key)")
	}
	if m.TopicPrefix == "" || strings.ContainsAny(m.TopicPrefix, "+#") ||
		strings.HasPrefix(m.TopicPrefix, "/") || strings.HasSuffix(m.TopicPrefix, "/") {
		v.errorf(p+"topic_prefix", "%q must be non-empty, without '+' or '#' and without a leading or trailing '/'", m.TopicPrefix)
	}
	if m.Keepalive < Duration(time.Second) || m.Keepalive > Duration(65535*time.Second) {
		v.errorf(p+"keepalive", "%s is out of range 1s..65535s (MQTT keeps it in 16 bits of seconds)", m.Keepalive)
	}
	v.positive(p+"connect_timeout", m.ConnectTimeout)
	v.intRange(p+"max_inflight", m.MaxInflight, 1, 1024, "")
	v.positive(p+"reconnect_min", m.ReconnectMin)
	if m.ReconnectMin > m.ReconnectMax {
		v.errorf(p+"reconnect_max", "%s is less than reconnect_min %s", m.ReconnectMax, m.ReconnectMin)
	}
}

func (v *checker) brokerURL(path, s string, allowPlain bool) {
	if s == "" {
		v.errorf(path, "required")
		return
	}
	u, err := url.Parse(s)
	if err != nil || u.Scheme == "" || u.Host == "" {
		v.errorf(path, "expected a URL like tls://broker.example:8883, got %q", s)
		return
	}
	plain := slices.Contains(plainSchemes, u.Scheme)
	if !plain && !slices.Contains(tlsSchemes, u.Scheme) {
		v.errorf(path, "unsupported scheme %q (use tls, ssl, mqtts or wss; tcp, mqtt or ws for plaintext)", u.Scheme)
		return
	}
	if u.Hostname() == "" || strings.HasSuffix(u.Host, ":") || !validPort(u.Port(), true) {
		v.errorf(path, "expected host or host:port in %q", s)
		return
	}
	if plain && !allowPlain && !isLoopback(u.Hostname()) {
		v.errorf(path, "%s:// sends credentials and data in the clear to %s; TLS is the default for a remote broker "+
			"(use tls:// or wss://), or set allow_plaintext: true to accept plaintext", u.Scheme, u.Hostname())
	}
}

func validPort(p string, optional bool) bool {
	if p == "" {
		return optional
	}
	n, err := strconv.Atoi(p)
	return err == nil && n >= 1 && n <= 65535
}

func isLoopback(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// hostPort accepts "host:port" and ":port" (all interfaces).
func hostPort(s string) bool {
	_, port, err := net.SplitHostPort(s)
	return err == nil && validPort(port, false)
}

func (v *checker) commands() {
	cmd := v.c.Platform.Commands
	if cmd.Enabled && len(cmd.PublicKeys) == 0 {
		v.errorf("platform.commands.public_keys", "required when commands are enabled (commands must be signed)")
	}
	v.positive("platform.commands.apply_timeout", cmd.ApplyTimeout)
	for i, k := range cmd.PublicKeys {
		b64, ok := strings.CutPrefix(k, "ed25519:")
		raw, err := base64.StdEncoding.DecodeString(b64)
		if !ok || err != nil || len(raw) != 32 {
			v.errorf(indexPath("platform.commands.public_keys", i), "expected ed25519:<base64 of 32 bytes>")
		}
	}
}

func (v *checker) buffer() {
	b := v.c.Buffer
	if hi := maxBufferBytes(wordBits); b.MaxBytes < 1<<20 || b.MaxBytes > hi {
		v.errorf("buffer.max_bytes", "%s is out of range 1MiB..%s%s", b.MaxBytes, hi, bufferLimitReason(wordBits))
	}
	if b.BackfillRate <= 0 {
		v.errorf("buffer.backfill_rate", "must be more than 0/s, or the backlog is never sent")
	}
	if b.Retain < 0 || b.Retain.D() > 400*24*time.Hour {
		v.errorf("buffer.retain", "%s is out of range 0..400d", b.Retain)
	}
	if v.c.StateDir == "" {
		v.errorf("state_dir", "required")
	}
}

func (v *checker) http() {
	if l := v.c.HTTP.Listen; l != "" && !hostPort(l) {
		v.errorf("http.listen", "expected host:port like 127.0.0.1:9102, got %q (\"\" disables)", l)
	}
}

func (v *checker) firmware() {
	f := v.c.Firmware
	if f.KeysFile == "" {
		v.errorf("firmware.keys_file", "required (a missing file refuses every update; an empty path is a mistake)")
	}
	if f.MaxBytes < 1<<20 || f.MaxBytes > 512<<20 {
		v.errorf("firmware.max_bytes", "%s is out of range 1MiB..512MiB (the bundle and the slot both sit on the gateway's flash)", f.MaxBytes)
	}
	if f.Timeout < Duration(time.Second) || f.Timeout > Duration(24*time.Hour) {
		v.errorf("firmware.timeout", "%s is out of range 1s..24h", f.Timeout)
	}
}

func (v *checker) log() {
	v.oneOf("log.level", "level", v.c.Log.Level, "debug", "info", "warn", "error")
	v.oneOf("log.format", "format", v.c.Log.Format, "text", "json")
}
