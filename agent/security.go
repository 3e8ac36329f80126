package agent

import (
	"fmt"
	"strings"

	"canary/drivers"
)

// raiseConfigWarnings turns the config's accepted weakenings
// (config.Warnings) into health warnings, so status, /healthz and the page
// say what is insecure for as long as the config runs:
// insecure:<device> for a device, insecure_uplink for the MQTT link.
func (a *Agent) raiseConfigWarnings() {
	msgs := map[string][]string{}
	for _, w := range a.cfg.Warnings() {
		code := a.insecureCode(w.Path)
		msgs[code] = append(msgs[code], w.Path+": "+w.Msg)
	}
	for code, m := range msgs {
		a.m.health.Set(code, SevWarning, strings.Join(m, "; "))
	}
}

// insecureCode names the warning of a config path: devices[i]… is the
// device's, anything else the uplink's.
func (a *Agent) insecureCode(path string) string {
	var i int
	if _, err := fmt.Sscanf(path, "devices[%d]", &i); err == nil && i >= 0 && i < len(a.cfg.Devices) {
		return WarnInsecure + ":" + a.cfg.Devices[i].ID
	}
	return WarnInsecureUplink
}

// links collects what the sources say about their devices' connections.
func (a *Agent) links() map[string]drivers.Link {
	out := map[string]drivers.Link{}
	for _, src := range a.sources {
		if r, ok := src.(drivers.LinkReporter); ok {
			for _, l := range r.Links() {
				out[l.Device] = l
			}
		}
	}
	return out
}

// addLinks fills the security of each device's status.
func (a *Agent) addLinks(devs []DeviceStatus) {
	links := a.links()
	for i := range devs {
		if l, ok := links[devs[i].ID]; ok {
			devs[i].Security, devs[i].Insecure = l.Security, l.Insecure
		}
	}
}
