package config

import (
	"strings"
	"testing"
)

const opcuaNone = `version: 1
site: {id: s1, gateway: gw-01}
platform:
  mqtt:
    url: tls://broker.example:8883
devices:
  - id: sis
    driver: opcua
    endpoint: ENDPOINT
    security: {mode: None, allow_insecure: true}
    points:
      - {id: ESD-01.trip, node: "ns=2;s=ESD01.Tripped", kind: interlock}
`

// Security None is a warning to a remote server, where values cross the
// network unsigned, and not to one on this machine.
func TestWarningsOPCUANoneRemoteOnly(t *testing.T) {
	for _, c := range []struct {
		endpoint string
		want     string
	}{
		{"opc.tcp://10.0.0.5:4840", "config.yaml:10: devices[0].security.mode: OPC UA security None to 10.0.0.5: "},
		{"opc.tcp://127.0.0.1:4840", ""},
		{"opc.tcp://localhost:4840", ""},
	} {
		ws := mustParse(t, strings.Replace(opcuaNone, "ENDPOINT", c.endpoint, 1)).Warnings()
		switch {
		case c.want == "" && len(ws) != 0:
			t.Errorf("%s: Warnings() = %v, want none", c.endpoint, ws)
		case c.want != "" && (len(ws) != 1 || !strings.HasPrefix(ws[0].Error(), c.want)):
			t.Errorf("%s: Warnings() = %v, want one starting %q", c.endpoint, ws, c.want)
		}
	}
}
