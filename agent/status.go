package agent

import (
	"encoding/json"
	"sort"
	"time"

	"canary/agent/wire"
	"canary/buffer"
)

// Status is the retained P/status message and the /status document.
type Status struct {
	Schema     string          `json:"schema"`
	Site       string          `json:"site"`
	Gateway    string          `json:"gateway"`
	Boot       string          `json:"boot"`
	State      string          `json:"state"` // online, offline
	Version    string          `json:"version"`
	Started    int64           `json:"started"` // Unix ms
	Uptime     float64         `json:"uptime_s"`
	ConfigHash string          `json:"config_hash,omitempty"`
	Link       LinkStatus      `json:"link"`
	Outbox     OutboxStatus    `json:"outbox"`
	Devices    []DeviceStatus  `json:"devices"`
	Active     ActiveStatus    `json:"active"`
	Warnings   []Warning       `json:"warnings"`           // active health warnings, errors first
	Config     *ConfigStatus   `json:"config,omitempty"`   // remote config state, under a Runner
	Firmware   *FirmwareStatus `json:"firmware,omitempty"` // slots, trial and update progress
}

// ActiveStatus is what holds now, so a platform that (re)connects learns
// the plant's state from the retained status without history.
type ActiveStatus struct {
	Alarms     []Condition `json:"alarms"`
	Interlocks []Condition `json:"interlocks"` // tripped
	Bypasses   []Condition `json:"bypasses"`   // incl. overdue
	Faults     []Condition `json:"faults"`     // detector fault or maintenance
}

type LinkStatus struct {
	Connected  bool   `json:"connected"`
	Broker     string `json:"broker"`
	Since      int64  `json:"since,omitempty"`
	LastError  string `json:"last_error,omitempty"`
	Plaintext  bool   `json:"plaintext,omitempty"`
	Insecure   bool   `json:"insecure_skip_verify,omitempty"`
	Reconnects uint64 `json:"reconnects"`
}

type OutboxStatus struct {
	Bytes    int64                 `json:"bytes"`
	MaxBytes int64                 `json:"max_bytes"`
	Lanes    map[string]LaneStatus `json:"lanes"`
	// WriteError is why the outbox cannot write now ("" when it can);
	// meanwhile MemoryQueued events wait in memory and data is dropped.
	WriteError   string `json:"write_error,omitempty"`
	MemoryQueued int    `json:"memory_queued"`
	DroppedDisk  uint64 `json:"dropped_disk"`    // records dropped since start because the outbox could not write
	Reset        string `json:"reset,omitempty"` // the damaged outbox moved aside at start
	Retained     int    `json:"retained"`        // acknowledged records kept for audit (buffer.retain)
}

type LaneStatus struct {
	Depth     int     `json:"depth"`
	Bytes     int64   `json:"bytes"`
	OldestAge float64 `json:"oldest_age_s"`
	Dropped   uint64  `json:"dropped"`
	NextSeq   uint64  `json:"next_seq"`
}

type DeviceStatus struct {
	ID        string  `json:"id"`
	State     string  `json:"state"` // online, offline, unknown
	LastGood  int64   `json:"last_good,omitempty"`
	LastError string  `json:"last_error,omitempty"`
	Polls     uint64  `json:"polls"`
	Failures  uint64  `json:"failures"`
	LatencyMS float64 `json:"poll_latency_ms"`
	// Security is how the connection is protected, as the driver reports
	// it (OPC UA: "SignAndEncrypt/Basic256Sha256", "None"); Insecure marks
	// one without security across a network, accepted in config.
	Security string `json:"security,omitempty"`
	Insecure bool   `json:"insecure,omitempty"`
}

func (a *Agent) status(state string) Status {
	now := a.clock.Now()
	up, since, lastErr := a.fwd.link()
	st := Status{
		Schema: wire.Schema, Site: a.cfg.Site.ID, Gateway: a.cfg.Site.Gateway, Boot: a.boot,
		State: state, Version: a.opts.Version, Started: a.started.UnixMilli(),
		Uptime: now.Sub(a.started).Seconds(), ConfigHash: a.cfg.Hash,
		Link: LinkStatus{Connected: up, Broker: a.sink.Endpoint(), LastError: lastErr,
			Plaintext: a.plaintext, Insecure: a.cfg.Platform.MQTT.TLS.InsecureSkipVerify,
			Reconnects: a.fwd.reconnects.Load()},
		Outbox: a.outboxStatus(now),
	}
	if up {
		st.Link.Since = since.UnixMilli()
	}
	ids := make([]string, 0, len(a.pipe.devices))
	for id := range a.pipe.devices {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	for _, id := range ids {
		st.Devices = append(st.Devices, a.pipe.devices[id].status())
	}
	a.addLinks(st.Devices)
	st.Active = activeStatus(a.pipe.conditions())
	st.Warnings, st.Config = a.warnings(), a.configStatus()
	if a.fw != nil {
		st.Firmware = a.fw.status()
	}
	return st
}

func activeStatus(conds []Condition) ActiveStatus {
	as := ActiveStatus{Alarms: []Condition{}, Interlocks: []Condition{}, Bypasses: []Condition{}, Faults: []Condition{}}
	for _, c := range conds {
		switch c.Type {
		case wire.TypeAlarm:
			as.Alarms = append(as.Alarms, c)
		case wire.TypeInterlock:
			as.Interlocks = append(as.Interlocks, c)
		case wire.TypeBypass:
			as.Bypasses = append(as.Bypasses, c)
		case wire.TypeFault:
			as.Faults = append(as.Faults, c)
		}
	}
	return as
}

func (a *Agent) outboxStatus(now time.Time) OutboxStatus {
	s := a.box.Stats()
	o := OutboxStatus{Bytes: s.Bytes, MaxBytes: s.MaxBytes, Lanes: map[string]LaneStatus{},
		Reset: a.outboxReset, Retained: s.Retained.Records}
	o.WriteError, o.MemoryQueued, o.DroppedDisk = a.out.condition()
	for _, l := range buffer.Lanes {
		ls := s.Lanes[l]
		lane := LaneStatus{Depth: ls.Depth, Bytes: ls.Bytes, Dropped: ls.Dropped, NextSeq: ls.NextSeq}
		if !ls.Oldest.IsZero() {
			lane.OldestAge = now.Sub(ls.Oldest).Seconds()
		}
		o.Lanes[l.String()] = lane
	}
	return o
}

func (ds *deviceState) status() DeviceStatus {
	ds.mu.Lock()
	defer ds.mu.Unlock()
	st := DeviceStatus{ID: ds.id, State: "unknown", LastError: ds.lastErr, Polls: ds.polls,
		Failures: ds.failures, LatencyMS: float64(ds.latency.Microseconds()) / 1000}
	switch ds.online {
	case 0:
		st.State = "offline"
	case 1:
		st.State = "online"
		st.LastError = ""
	}
	if !ds.lastGood.IsZero() {
		st.LastGood = ds.lastGood.UnixMilli()
	}
	return st
}

func (a *Agent) statusJSON(state string) []byte {
	b, _ := json.Marshal(a.status(state))
	return b
}

// willPayload is what the broker publishes, retained, when the agent
// vanishes without a clean disconnect.
func willPayload(site, gateway, boot string) []byte {
	b, _ := json.Marshal(map[string]any{"schema": wire.Schema, "site": site, "gateway": gateway,
		"boot": boot, "state": "offline", "reason": "connection lost"})
	return b
}
