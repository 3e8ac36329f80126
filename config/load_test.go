package config

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
)

func TestDefault(t *testing.T) {
	want := Config{
		Version: 1,
		Platform: Platform{MQTT: MQTT{
			TopicPrefix: "canary", Keepalive: Duration(30 * time.Second),
			ConnectTimeout: Duration(10 * time.Second), MaxInflight: 64,
			ReconnectMin: Duration(time.Second), ReconnectMax: Duration(4 * time.Second),
		}, Commands: Commands{ApplyTimeout: Duration(5 * time.Minute)}},
		Buffer:   Buffer{MaxBytes: 256 << 20, BackfillRate: 500},
		StateDir: "/var/lib/canary",
		HTTP:     HTTP{Listen: "127.0.0.1:9102"},
		Log:      Log{Level: "info", Format: "text"},
		Firmware: Firmware{KeysFile: "/etc/canary/firmware-keys", MaxBytes: 64 << 20, Timeout: Duration(10 * time.Minute)},
	}
	if diff := cmp.Diff(want, Default(), cmpopts.IgnoreUnexported(Config{})); diff != "" {
		t.Errorf("Default() (-want +got):\n%s", diff)
	}
}

const minimal = `version: 1
site: {id: s1, gateway: gw-01}
platform:
  mqtt:
    url: tls://broker.example:8883
    password_file: PASSFILE
devices:
  - id: panel
    driver: modbus
    address: 10.0.0.5:502
    points:
      - {id: GT-101, table: input, address: 0}
      - {id: GT-102, table: coil, address: 0, unit_id: 0}
`

func mustParse(t *testing.T, src string) *Config {
	t.Helper()
	c, err := Parse("config.yaml", []byte(src))
	if err != nil {
		t.Fatalf("Parse:\n%v", err)
	}
	return c
}

func TestParseAppliesDefaults(t *testing.T) {
	c := mustParse(t, minimal)
	if c.Platform.MQTT.ClientID != "s1-gw-01" || c.Buffer.Path != "/var/lib/canary/outbox.db" {
		t.Errorf("derived defaults: client_id %q, buffer.path %q", c.Platform.MQTT.ClientID, c.Buffer.Path)
	}
	d := c.Devices[0]
	if d.Transport != "tcp" || d.UnitID != 1 || d.Interval.D() != time.Second || d.Timeout.D() != time.Second ||
		d.MaxGap != 10 || d.MaxInterval.D() != time.Minute {
		t.Errorf("device defaults: %+v", d)
	}
	p0, p1 := d.Points[0], d.Points[1]
	if p0.Kind != "analog" || p0.Type != "uint16" || p0.Order != "ABCD" || p0.Scale != 1 {
		t.Errorf("point defaults: %+v", p0)
	}
	if p1.Type != "bool" {
		t.Errorf("coil point type = %q, want bool", p1.Type)
	}
	if c.Hash == "" || c.File != "config.yaml" {
		t.Errorf("File %q Hash %q", c.File, c.Hash)
	}
}

func TestExplicitZeroUnitIDIsKept(t *testing.T) {
	src := strings.Replace(minimal, "address: 10.0.0.5:502", "address: 10.0.0.5:502\n    unit_id: 0", 1)
	if got := mustParse(t, src).Devices[0].UnitID; got != 0 {
		t.Errorf("unit_id = %d, want the 0 the file wrote", got)
	}
}

func writeConfig(t *testing.T, passFile string) string {
	t.Helper()
	dir := t.TempDir()
	path := filepath.Join(dir, "canary.yaml")
	src := strings.Replace(minimal, "PASSFILE", passFile, 1)
	if err := os.WriteFile(path, []byte(src), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestLoadPasswordFromFile(t *testing.T) {
	t.Setenv(EnvPassword, "")
	pass := filepath.Join(t.TempDir(), "mqtt.pass")
	os.WriteFile(pass, []byte("s3cret\n"), 0o600)
	c, err := Load(writeConfig(t, pass))
	if err != nil {
		t.Fatal(err)
	}
	if got := c.Platform.MQTT.Password.Reveal(); got != "s3cret" {
		t.Errorf("password %q, want s3cret (trailing newline trimmed)", got)
	}
}

func TestLoadPasswordEnvWins(t *testing.T) {
	t.Setenv(EnvPassword, "from-env")
	// The file does not exist: with the environment set it is not read.
	c, err := Load(writeConfig(t, "/nonexistent/mqtt.pass"))
	if err != nil {
		t.Fatal(err)
	}
	if got := c.Platform.MQTT.Password.Reveal(); got != "from-env" {
		t.Errorf("password %q, want from-env", got)
	}
}

func TestLoadMissingPasswordFile(t *testing.T) {
	t.Setenv(EnvPassword, "")
	path := writeConfig(t, "/nonexistent/mqtt.pass")
	_, err := Load(path)
	var errs Errors
	if !errors.As(err, &errs) || len(errs) != 1 {
		t.Fatalf("err = %v, want one Errors entry", err)
	}
	want := path + ":6: platform.mqtt.password_file: cannot read the password: open /nonexistent/mqtt.pass: no such file or directory"
	if errs[0].Error() != want {
		t.Errorf("got  %s\nwant %s", errs[0], want)
	}
}

func TestLoadEmptyPasswordFile(t *testing.T) {
	t.Setenv(EnvPassword, "")
	pass := filepath.Join(t.TempDir(), "mqtt.pass")
	os.WriteFile(pass, []byte("\n"), 0o600)
	if _, err := Load(writeConfig(t, pass)); err == nil || !strings.Contains(err.Error(), "is empty") {
		t.Errorf("err = %v, want an empty-file error", err)
	}
}

func TestRedactedHasNoPassword(t *testing.T) {
	t.Setenv(EnvPassword, "hunter2-very-secret")
	c, err := Load(writeConfig(t, "/etc/canary/mqtt.pass"))
	if err != nil {
		t.Fatal(err)
	}
	out, err := c.Redacted()
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(out), "hunter2") {
		t.Errorf("Redacted() leaks the password:\n%s", out)
	}
	if !strings.Contains(string(out), "password_file: /etc/canary/mqtt.pass") {
		t.Errorf("Redacted() lost password_file:\n%s", out)
	}
}

// The effective config printed by Redacted reads back as the same config:
// config.get output can be saved and used.
func TestRedactedRoundTrip(t *testing.T) {
	for _, f := range []string{"examples/minimal.yaml", "examples/gas-rack.yaml"} {
		data, _ := os.ReadFile(f)
		c := mustParse(t, string(data))
		out, err := c.Redacted()
		if err != nil {
			t.Fatal(err)
		}
		back := mustParse(t, string(out))
		opts := cmp.Options{cmpopts.IgnoreUnexported(Config{}), cmpopts.IgnoreFields(Config{}, "Hash"), cmpopts.EquateEmpty()}
		if diff := cmp.Diff(c, back, opts); diff != "" {
			t.Errorf("%s: round trip (-parsed +reparsed):\n%s", f, diff)
		}
	}
}

func TestErrorFormat(t *testing.T) {
	for _, tc := range []struct {
		e    Error
		want string
	}{
		{Error{"c.yaml", 3, "site.id", "required", 0}, "c.yaml:3: site.id: required"},
		{Error{"c.yaml", 0, "site.id", "required", 0}, "c.yaml: site.id: required"},
		{Error{"c.yaml", 0, "", "the file is empty", 0}, "c.yaml: the file is empty"},
		{Error{"", 0, "site.id", "required", 0}, "site.id: required"},
		{Error{"p.csv", 4, "type", "bad", 5}, "p.csv:4:5: type: bad"},
	} {
		if got := tc.e.Error(); got != tc.want {
			t.Errorf("got %q, want %q", got, tc.want)
		}
	}
	es := Errors{{"a", 1, "x", "m", 0}, {"a", 2, "y", "n", 0}}
	if got := es.Error(); got != "a:1: x: m\na:2: y: n" {
		t.Errorf("Errors.Error() = %q", got)
	}
}

// Validate works on a config built in code, with no lines to name.
func TestValidateInCode(t *testing.T) {
	c := Default()
	c.Site = Site{ID: "s1", Gateway: "gw"}
	c.Platform.MQTT.URL = "mqtt://localhost"
	c.Devices = []Device{{ID: "d", Driver: "modbus", Address: "127.0.0.1:502", Points: []Point{{ID: "p"}}}}
	c.ApplyDefaults()
	if errs := c.Validate(); errs != nil {
		t.Fatalf("valid config: %v", errs)
	}
	c.Devices[0].Points = append(c.Devices[0].Points, Point{ID: "p", Kind: "analog", Scale: 1, Table: "input", Type: "uint16", Order: "ABCD"})
	want := "devices[0].points[1].id: duplicate point id \"p\" (first at devices[0].points[0].id)"
	if errs := c.Validate(); errs.Error() != want {
		t.Errorf("got  %v\nwant %s", errs, want)
	}
}

func TestWarnings(t *testing.T) {
	src := strings.Replace(minimal, "    password_file: PASSFILE\n", "    tls: {insecure_skip_verify: true}\n", 1)
	c := mustParse(t, src)
	ws := c.Warnings()
	if len(ws) != 1 || !strings.HasPrefix(ws[0].Error(), "config.yaml:6: platform.mqtt.tls.insecure_skip_verify: ") {
		t.Errorf("Warnings() = %v", ws)
	}
	if ws := mustParse(t, minimal).Warnings(); ws != nil {
		t.Errorf("Warnings() of a TLS config = %v", ws)
	}
}
