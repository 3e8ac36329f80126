package agent

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"canary/config"
)

// Security None to a remote OPC UA server and a plaintext uplink, both
// accepted in config, are health warnings from the start (insecure:<device>,
// insecure_uplink), and each device's security is in status and on the
// page; a secured device is not flagged.
func TestInsecureSettingsShownInStatus(t *testing.T) {
	weak := opcuaDevice("sis", "opc.tcp://192.0.2.1:4840") // TEST-NET-1: never answers
	weak.Security.AllowInsecure = true
	weak.Timeout = config.Duration(100 * time.Millisecond)
	strong := opcuaDevice("dcs", "opc.tcp://127.0.0.1:1")
	strong.Security = config.OPCUASecurity{Mode: "SignAndEncrypt", Policy: "Basic256Sha256", ServerCertSHA256: strings.Repeat("ab", 32)}
	sink := &fakeSink{}
	a := opcuaAgent(t, sink, func(c *config.Config, _ *Options) { c.Platform.MQTT.AllowPlaintext = true }, weak, strong)
	stop := runAgent(a, sink)
	defer stop()
	waitFor(t, 10*time.Second, func() bool { return a.m.health.Active(WarnInsecure + ":sis") })

	ws := a.status("online").Warnings
	if w, _ := warningOf(ws, WarnInsecure+":sis"); w.Severity != SevWarning || !strings.Contains(w.Message, "security None to 192.0.2.1") {
		t.Errorf("insecure:sis = %+v, want a warning saying security None to 192.0.2.1", w)
	}
	if w, _ := warningOf(ws, WarnInsecureUplink); !strings.Contains(w.Message, "allow_plaintext") {
		t.Errorf("insecure_uplink = %+v, want the allow_plaintext setting named", w)
	}
	if w, ok := warningOf(ws, WarnInsecure+":dcs"); ok {
		t.Errorf("a secured device flagged: %+v", w)
	}
	if d := deviceStatus(a, "sis"); d.Security != "None" || !d.Insecure {
		t.Errorf("status of sis: security %q insecure %v, want None and true", d.Security, d.Insecure)
	}
	if d := deviceStatus(a, "dcs"); d.Security != "SignAndEncrypt/Basic256Sha256" || d.Insecure {
		t.Errorf("status of dcs: security %q insecure %v", d.Security, d.Insecure)
	}
	var page bytes.Buffer
	if err := a.writePage(&page); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{`<td class="warning">None (insecure)</td>`, `<td>SignAndEncrypt/Basic256Sha256</td>`} {
		if !strings.Contains(page.String(), want) {
			t.Errorf("status page lacks %s", want)
		}
	}
}

// canary check prints the settings that weaken security as warnings on
// stderr and still says ok with exit code 0.
func TestCheckPrintsWarnings(t *testing.T) {
	path := filepath.Join(t.TempDir(), "canary.yaml")
	cfg := `version: 1
site: {id: s1, gateway: gw-01}
platform:
  mqtt:
    url: tcp://broker.example:1883
    allow_plaintext: true
devices:
  - id: sis
    driver: opcua
    endpoint: opc.tcp://10.0.0.5:4840
    security: {mode: None, allow_insecure: true}
    points:
      - {id: ESD-01.trip, node: "ns=2;s=ESD01.Tripped", kind: interlock}
`
	if err := os.WriteFile(path, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	var out, errs bytes.Buffer
	if code := Main([]string{"check", "-c", path}, &out, &errs, Wiring{}); code != ExitOK {
		t.Fatalf("exit %d, stderr:\n%s", code, errs.String())
	}
	if out.String() != path+": ok\n" {
		t.Errorf("stdout %q", out.String())
	}
	want := []string{
		"warning: " + path + ":6: platform.mqtt.allow_plaintext: ",
		"warning: " + path + ":11: devices[0].security.mode: OPC UA security None to 10.0.0.5: ",
	}
	lines := strings.Split(strings.TrimSpace(errs.String()), "\n")
	if len(lines) != len(want) {
		t.Fatalf("stderr:\n%s\nwant %d warning lines", errs.String(), len(want))
	}
	for i, w := range want {
		if !strings.HasPrefix(lines[i], w) {
			t.Errorf("line %d %q, want prefix %q", i+1, lines[i], w)
		}
	}
}
