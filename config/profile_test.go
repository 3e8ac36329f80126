package config

import (
	"os"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
)

func TestProfileExpansion(t *testing.T) {
	data, err := os.ReadFile("examples/profiles.yaml")
	if err != nil {
		t.Fatal(err)
	}
	c, err := Parse("profiles.yaml", data)
	if err != nil {
		t.Fatal(err)
	}
	byID := map[string]Point{}
	for _, d := range c.Devices {
		if d.Profile != "" || d.Overrides != nil {
			t.Errorf("device %s: profile not cleared after expansion", d.ID)
		}
		for _, p := range d.Points {
			byID[p.ID] = p
		}
	}
	if len(byID) != 3*7+1 {
		t.Errorf("got %d points, want 22", len(byID))
	}
	g1, g3 := byID["gas-01.gas"], byID["gas-03.gas"]
	if *g1.Alarms.H != 25 || *g1.Alarms.HH != 50 || g1.Meta != nil {
		t.Errorf("gas-01.gas: profile values not kept: %+v", g1.Alarms)
	}
	if *g3.Alarms.H != 20 || *g3.Alarms.HH != 40 || g3.Meta["位号"] != "GT-303" || g3.Scale != 0.1 || g3.Unit != "%LEL" {
		t.Errorf("gas-03.gas: override not applied field by field: %+v %v", g3.Alarms, g3.Meta)
	}
	if f := byID["gas-02.fault"]; f.Of != "gas-02.gas" || f.Kind != "fault" || f.Type != "bit" {
		t.Errorf("gas-02.fault: %+v", f)
	}
	if p, ok := byID["GT-401.gas"]; !ok || p.Signal == nil || p.Signal.Unit != "uA" || len(p.Signal.Bands) != 2 {
		t.Errorf("points_prefix or signal lost: %+v", p)
	}
	// The effective config parses again to the same points.
	out, err := c.Redacted()
	if err != nil {
		t.Fatal(err)
	}
	c2, err := Parse("again.yaml", out)
	if err != nil {
		t.Fatalf("effective config does not parse: %v\n%s", err, out)
	}
	if diff := cmp.Diff(c.Devices, c2.Devices, cmpopts.EquateEmpty()); diff != "" {
		t.Errorf("round trip (-first +second):\n%s", diff)
	}
}

func TestSignalValidation(t *testing.T) {
	head := "version: 1\nsite: {id: s, gateway: g}\nplatform: {mqtt: {url: tls://b.example:8883}}\ndevices:\n  - id: d\n    driver: modbus\n    address: 10.0.0.1:502\n    points:\n"
	for _, tc := range []struct{ point, want string }{
		{`{id: a, eng_max: 100, signal: {kind: 4-20mA}}`, ""},
		{`{id: a, eng_max: 100, signal: {kind: 4-20mA, raw_4ma: 6400, raw_20ma: 32000, bands: [{below: 1, quality: bad, reason: sensor_fault}]}}`, ""},
		{`{id: a, eng_max: 100, signal: {kind: 0-10V}}`, `unknown signal kind "0-10V"`},
		{`{id: a, signal: {kind: 4-20mA}}`, "eng_min and eng_max"},
		{`{id: a, eng_max: 100, scale: 0.1, signal: {kind: 4-20mA}}`, "does its own scaling"},
		{`{id: a, eng_max: 100, signal: {kind: 4-20mA, raw_4ma: 5, raw_20ma: 5}}`, "must differ from raw_4ma"},
		{`{id: a, eng_max: 100, signal: {kind: 4-20mA, unit: A}}`, `unknown unit "A"`},
		{`{id: a, eng_max: 100, signal: {kind: 4-20mA, bands: [{quality: bad, reason: sensor_fault}]}}`, "needs above, below"},
		{`{id: a, eng_max: 100, signal: {kind: 4-20mA, bands: [{above: 3, below: 2, quality: good, reason: x}]}}`, "must be above"},
		{`{id: a, eng_max: 100, signal: {kind: 4-20mA, standard: iec}}`, `unknown standard "iec"`},
	} {
		_, err := Parse("c.yaml", []byte(head+"      - "+tc.point+"\n"))
		switch {
		case tc.want == "" && err != nil:
			t.Errorf("%s: %v", tc.point, err)
		case tc.want != "" && (err == nil || !contains(err.Error(), tc.want)):
			t.Errorf("%s: got %v, want %q", tc.point, err, tc.want)
		}
	}
}

func contains(s, sub string) bool {
	return len(sub) == 0 || len(s) >= len(sub) && (s[:len(sub)] == sub || contains(s[1:], sub))
}
