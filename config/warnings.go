package config

import "net/url"

// Warnings lists accepted settings that weaken security, in the same form
// as errors, so `canary check` can print them and status can report them.
// They never make a config invalid: they were spelled out on purpose.
func (c *Config) Warnings() Errors {
	if c.pos == nil && c.warnings != nil {
		return append(Errors(nil), c.warnings...) // parsed: named while the lines were known
	}
	var ws Errors
	add := func(path, msg string) {
		ws = append(ws, &Error{File: c.File, Line: c.pos.line(path), Path: path, Msg: msg})
	}
	m := c.Platform.MQTT
	if m.TLS.InsecureSkipVerify {
		add("platform.mqtt.tls.insecure_skip_verify", "the broker's certificate is not verified; anyone on the path can impersonate it")
	}
	if m.AllowPlaintext {
		add("platform.mqtt.allow_plaintext", "plaintext to the broker is allowed; credentials and data may cross the network in the clear")
	}
	for i, d := range c.Devices {
		if host, remote := remoteHost(d.Endpoint); d.Driver == "opcua" && d.Security.Mode == "None" && remote {
			add(indexPath("devices", i)+".security.mode", "OPC UA security None to "+host+
				": the server is not authenticated and values cross the network unsigned")
		}
	}
	return ws
}

// remoteHost is the host of an endpoint URL and whether it is not this
// machine (security None on loopback crosses no network: not a warning).
func remoteHost(endpoint string) (string, bool) {
	u, err := url.Parse(endpoint)
	if err != nil {
		return endpoint, true
	}
	return u.Hostname(), !isLoopback(u.Hostname())
}
