package agent

import (
	"sort"
	"strings"
	"sync"
	"time"
)

// Severity of a health warning. An error means the agent is not doing its
// job right now (/healthz answers 503); a warning needs attention but data
// still flows.
type Severity string

const (
	SevError   Severity = "error"
	SevWarning Severity = "warning"
)

// Warning codes. A code names one condition; codes with a suffix
// (device_offline:gas-rack-1) are one warning per subject.
const (
	WarnUplinkDown       = "uplink_down"
	WarnDeviceOffline    = "device_offline" // :device
	WarnOutboxFull       = "outbox_full"
	WarnDiskError        = "disk_error"
	WarnClockUnsynced    = "clock_unsynced"
	WarnClockJumped      = "clock_jumped"
	WarnCertExpiring     = "cert_expiring" // :name
	WarnInsecure         = "insecure"      // :device
	WarnInsecureUplink   = "insecure_uplink"
	WarnBypassOverdue    = "bypass_overdue" // :point
	WarnCommandsRejected = "commands_rejected"
	WarnConfigRolledBack = "config_rolled_back"
)

// Warning is one active health warning, as listed in status.
type Warning struct {
	Code     string   `json:"code"`
	Severity Severity `json:"severity"`
	Message  string   `json:"message"`
	Since    int64    `json:"since"` // Unix ms the condition began
}

// Health is a registry of named warnings. Set and Clear are cheap and safe
// from any goroutine; Changed is signalled (coalesced) whenever the set of
// warnings or a warning's message changes, so status can be republished.
type Health struct {
	now func() time.Time

	mu       sync.Mutex
	warnings map[string]Warning
	changed  chan struct{}
}

// NewHealth returns an empty registry stamped by now.
func NewHealth(now func() time.Time) *Health {
	return &Health{now: now, warnings: map[string]Warning{}, changed: make(chan struct{}, 1)}
}

// Set raises or updates a warning; Since is kept while the code stays set.
func (h *Health) Set(code string, sev Severity, msg string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	w, ok := h.warnings[code]
	if ok && w.Severity == sev && w.Message == msg {
		return
	}
	if !ok {
		w = Warning{Code: code, Since: h.now().UnixMilli()}
	}
	w.Severity, w.Message = sev, msg
	h.warnings[code] = w
	h.signal()
}

// Clear drops a warning; clearing one that is not set does nothing.
func (h *Health) Clear(code string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if _, ok := h.warnings[code]; ok {
		delete(h.warnings, code)
		h.signal()
	}
}

// ClearPrefix drops every warning whose code starts with prefix+":" and is
// not in keep: how per-subject warnings whose subject is gone are cleared.
func (h *Health) ClearPrefix(prefix string, keep map[string]bool) {
	h.mu.Lock()
	defer h.mu.Unlock()
	for code := range h.warnings {
		if strings.HasPrefix(code, prefix+":") && !keep[code] {
			delete(h.warnings, code)
			h.signal()
		}
	}
}

// SetIf sets the warning when on, else clears it.
func (h *Health) SetIf(on bool, code string, sev Severity, msg string) {
	if on {
		h.Set(code, sev, msg)
	} else {
		h.Clear(code)
	}
}

func (h *Health) signal() {
	select {
	case h.changed <- struct{}{}:
	default:
	}
}

// Touch signals Changed without a change of warnings: something else in
// status changed that the platform should learn now.
func (h *Health) Touch() { h.signal() }

// Changed receives a value after one or more changes.
func (h *Health) Changed() <-chan struct{} { return h.changed }

// Warnings lists the active warnings, errors first, then by code.
func (h *Health) Warnings() []Warning {
	h.mu.Lock()
	out := make([]Warning, 0, len(h.warnings))
	for _, w := range h.warnings {
		out = append(out, w)
	}
	h.mu.Unlock()
	sort.Slice(out, func(i, j int) bool {
		if out[i].Severity != out[j].Severity {
			return out[i].Severity == SevError
		}
		return out[i].Code < out[j].Code
	})
	return out
}

// Active reports whether code is set.
func (h *Health) Active(code string) bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	_, ok := h.warnings[code]
	return ok
}
