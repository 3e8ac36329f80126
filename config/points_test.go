package config

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
)

// A config whose points were dropped gets exactly the points it was loaded
// with back (inline, from a profile and from a CSV table), secrets
// included, even after the files on disk changed or went away: a restart
// or a rollback runs what was validated, not what lies there now.
func TestWithPointsRestoresWhatWasLoaded(t *testing.T) {
	dir := t.TempDir()
	yml := "version: 1\nsite: {id: s1, gateway: g}\n" +
		"platform: {mqtt: {url: tls://b.example:8883, username: u, password_file: PW}}\n" +
		"profiles:\n  det: {points: [{id: gas, address: 0, unit: '%LEL', gas: combustible}, {id: fault, address: 1, type: bit, bit: 0, kind: fault, of: gas}]}\n" +
		"devices:\n" +
		"  - {id: rack, driver: modbus, address: 10.0.0.5:502, points: [{id: GT-100, address: 9, alarms: {h: 20}}]}\n" +
		"  - {id: d7, driver: modbus, address: 10.0.0.6:502, unit_id: 7, profile: det}\n" +
		"points_csv: [pts.csv]\n"
	table := "id,device,table,address,type,order,unit\nGT-101,rack,input,0,float32,CDAB,%LEL\n"
	write := func(name, s string) {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(s), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	yml = strings.Replace(yml, "PW", filepath.Join(dir, "pw"), 1)
	write("config.yaml", yml)
	write("pts.csv", table)
	write("pw", "s3cret\n")
	full, err := Load(filepath.Join(dir, "config.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	if n := len(full.Devices[0].Points) + len(full.Devices[1].Points); n != 4 {
		t.Fatalf("loaded %d points, want 4", n)
	}

	slim := full.WithoutPoints()
	for _, d := range slim.Devices {
		if d.Points != nil {
			t.Fatalf("device %s kept %d points", d.ID, len(d.Points))
		}
	}
	if len(full.Devices[0].Points) != 2 {
		t.Fatal("WithoutPoints changed the config it was called on")
	}
	if !slim.src.packed || len(slim.src.data) >= len(yml) {
		t.Errorf("the kept source is not compressed: %d bytes for a %d-byte file", len(slim.src.data), len(yml))
	}
	write("config.yaml", strings.ReplaceAll(yml, "h: 20", "h: 99")) // someone edits the files
	os.Remove(filepath.Join(dir, "pts.csv"))

	back, err := slim.WithPoints()
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(full, back, cmpopts.IgnoreUnexported(Config{})); diff != "" {
		t.Errorf("restored config differs (-loaded +restored):\n%s", diff)
	}
	if back.Platform.MQTT.Password != "s3cret" {
		t.Error("the password loaded at start was lost")
	}
	y, err := slim.Redacted()
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"GT-100", "GT-101", "id: gas", "h: 20"} {
		if !strings.Contains(string(y), want) {
			t.Errorf("config.get of a config without its points lacks %q", want)
		}
	}
	if strings.Contains(string(y), "s3cret") {
		t.Error("the password is in the redacted config")
	}
	if again := back.WithoutPoints().WithoutPoints(); again.Devices[0].Points != nil {
		t.Error("dropping twice kept points")
	}
}

// A config built in code has no bytes to parse again: it keeps its points.
func TestWithoutPointsKeepsPointsOfABuiltConfig(t *testing.T) {
	c := Default()
	c.Devices = []Device{{ID: "d", Points: []Point{{ID: "p"}}}}
	if got := c.WithoutPoints(); len(got.Devices[0].Points) != 1 {
		t.Error("a config built in code lost its points")
	}
}

// Kept bytes that no longer parse to the loaded config (damaged memory, a
// bug) give an error, never a config with other points.
func TestWithPointsRefusesAnotherConfig(t *testing.T) {
	yml := "version: 1\nsite: {id: s1, gateway: g}\nplatform: {mqtt: {url: tls://b.example:8883}}\n" +
		"devices:\n  - {id: rack, driver: modbus, address: 10.0.0.5:502, points: [{id: GT-100, address: 9}]}\n"
	c, err := Parse("c.yaml", []byte(yml))
	if err != nil {
		t.Fatal(err)
	}
	slim := c.WithoutPoints()
	other := *slim
	other.src = (&source{data: []byte(strings.Replace(yml, "GT-100", "GT-999", 1)), tables: map[string][]byte{}}).pack()
	if _, err := other.WithPoints(); err == nil || !strings.Contains(err.Error(), "not the config that was loaded") {
		t.Errorf("another config's bytes: %v", err)
	}
	other.src = &source{data: []byte{0xff, 0x00}, tables: map[string][]byte{}, packed: true}
	if _, err := other.WithPoints(); err == nil {
		t.Error("damaged kept bytes gave no error")
	}
}
