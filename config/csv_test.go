package config

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// TestCSVErrorCases checks each testdata/csv/<mistake>/{config.yaml,
// points.csv} against expected.txt (-update rewrites it; read the diff).
func TestCSVErrorCases(t *testing.T) {
	dirs, _ := filepath.Glob("testdata/csv/*")
	if len(dirs) < 6 {
		t.Fatalf("want at least 6 cases, got %v", dirs)
	}
	for _, dir := range dirs {
		t.Run(filepath.Base(dir), func(t *testing.T) {
			file := filepath.Join(dir, "config.yaml")
			data, err := os.ReadFile(file)
			if err != nil {
				t.Fatal(err)
			}
			_, err = Parse(file, data)
			if _, ok := err.(Errors); !ok {
				t.Fatalf("error is %T (%v), want Errors", err, err)
			}
			got := strings.ReplaceAll(err.Error(), dir+string(filepath.Separator), "") + "\n"
			want := filepath.Join(dir, "expected.txt")
			if *update {
				if err := os.WriteFile(want, []byte(got), 0o644); err != nil {
					t.Fatal(err)
				}
				return
			}
			exp, err := os.ReadFile(want)
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(string(exp), got); diff != "" {
				t.Errorf("errors (-want +got):\n%s", diff)
			}
		})
	}
}

func TestCSVPoints(t *testing.T) {
	dir := t.TempDir()
	cfg := "version: 1\nsite: {id: s1, gateway: g}\nplatform: {mqtt: {url: tls://b.example:8883}}\n" +
		"devices:\n  - {id: rack, driver: modbus, address: 10.0.0.5:502, points: [{id: GT-100, address: 9}]}\npoints_csv: [pts.csv]\n"
	table := "\ufeffid,device,table,address,type,order,scale,unit,gas,ll,h,hh,hysteresis,deadband,max_interval,kind,of,bit,invert,meta.指标编码,meta.位号\n" +
		"GT-101,rack,input,0,float32,CDAB,,%LEL,combustible,,25,50,1,0.5,30s,,,,,\"A,01\",GT-101\n" +
		"GT-101.f,rack,input,2,bit,,,,,,,,,,,fault,GT-101,3,true,,\n" +
		"\n"
	os.WriteFile(filepath.Join(dir, "config.yaml"), []byte(cfg), 0o644)
	os.WriteFile(filepath.Join(dir, "pts.csv"), []byte(table), 0o644)
	c, err := Load(filepath.Join(dir, "config.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	pts := c.Devices[0].Points
	if len(pts) != 3 {
		t.Fatalf("got %d points", len(pts))
	}
	g := pts[1]
	if g.ID != "GT-101" || g.Table != "input" || g.Type != "float32" || g.Order != "CDAB" || g.Scale != 1 ||
		*g.Alarms.H != 25 || *g.Alarms.HH != 50 || g.Alarms.L != nil || g.Alarms.Hysteresis != 1 || *g.Deadband != 0.5 ||
		g.MaxInterval.D().Seconds() != 30 || g.Meta["指标编码"] != "A,01" || g.Meta["位号"] != "GT-101" || g.Kind != "analog" {
		t.Errorf("GT-101: %+v", g)
	}
	f := pts[2]
	if f.Kind != "fault" || f.Of != "GT-101" || f.Bit != 3 || !f.Invert || f.Type != "bit" {
		t.Errorf("GT-101.f: %+v", f)
	}
	if c.PointsCSV != nil {
		t.Errorf("points_csv not cleared: %v", c.PointsCSV)
	}
}

func TestCSVNotRegularFile(t *testing.T) {
	cfg := "version: 1\nsite: {id: s1, gateway: g}\nplatform: {mqtt: {url: tls://b.example:8883}}\npoints_csv: [/dev/zero, " + t.TempDir() + "]\n"
	_, err := Parse("c.yaml", []byte(cfg))
	if err == nil || !strings.Contains(err.Error(), "c.yaml:4: points_csv[0]: cannot read the point table: /dev/zero is not a regular file") ||
		!strings.Contains(err.Error(), "points_csv[1]") {
		t.Errorf("got %v", err)
	}
}
