package config

import (
	"testing"
	"time"

	"gopkg.in/yaml.v3"
)

func TestParseDuration(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want time.Duration
		ok   bool
	}{
		{"500ms", 500 * time.Millisecond, true},
		{"1m30s", 90 * time.Second, true},
		{"0", 0, true},
		{"7d", 7 * 24 * time.Hour, true},
		{"30d", 30 * 24 * time.Hour, true},
		{"1d12h", 36 * time.Hour, true},
		{"1.5d", 36 * time.Hour, true},
		{"0d", 0, true},
		{"fast", 0, false},
		{"30", 0, false}, // a bare number has no unit: seconds or ms?
		{"-1s", 0, false},
		{"-7d", 0, false},
		{"d", 0, false},
		{"7dd", 0, false},
		{"", 0, false},
		{"200000000d", 0, false}, // overflows int64 nanoseconds
	} {
		got, err := ParseDuration(tc.in)
		if (err == nil) != tc.ok || got.D() != tc.want {
			t.Errorf("ParseDuration(%q) = %v, %v; want %v, ok=%v", tc.in, got.D(), err, tc.want, tc.ok)
		}
	}
}

func TestDurationString(t *testing.T) {
	for d, want := range map[time.Duration]string{
		0: "0s", 500 * time.Millisecond: "500ms", time.Minute: "1m", 90 * time.Minute: "1h30m",
		time.Hour: "1h", 48 * time.Hour: "2d", 36 * time.Hour: "36h", 61 * time.Second: "1m1s",
	} {
		if got := Duration(d).String(); got != want {
			t.Errorf("Duration(%v).String() = %q, want %q", d, got, want)
		}
		if back, err := ParseDuration(want); err != nil || back.D() != d {
			t.Errorf("ParseDuration(%q) = %v, %v; want %v", want, back, err, d)
		}
	}
}

func TestParseSize(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want int64
		ok   bool
	}{
		{"256MiB", 256 << 20, true},
		{"1GiB", 1 << 30, true},
		{"64KiB", 64 << 10, true},
		{"10MB", 10_000_000, true},
		{"64KB", 64_000, true},
		{"512", 512, true},
		{"512B", 512, true},
		{"0", 0, true},
		{"lots", 0, false},
		{"1.5GiB", 0, false},
		{"-1MiB", 0, false},
		{"MiB", 0, false},
		{"10 apples", 0, false},
		{"9999999999TiB", 0, false},
	} {
		got, err := ParseSize(tc.in)
		if (err == nil) != tc.ok || int64(got) != tc.want {
			t.Errorf("ParseSize(%q) = %d, %v; want %d, ok=%v", tc.in, got, err, tc.want, tc.ok)
		}
	}
}

func TestSizeString(t *testing.T) {
	for n, want := range map[Size]string{0: "0", 512: "512", 256 << 20: "256MiB", 1 << 30: "1GiB", 1536: "1536", 10_000_000: "10000000"} {
		if got := n.String(); got != want {
			t.Errorf("Size(%d).String() = %q, want %q", n, got, want)
		}
	}
}

func TestParseRate(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want float64
		ok   bool
	}{
		{"500/s", 500, true},
		{"30/m", 0.5, true},
		{"2/h", 2.0 / 3600, true},
		{"10", 10, true},
		{"2.5", 2.5, true},
		{"fast", 0, false},
		{"10/d", 0, false},
		{"/s", 0, false},
		{"-1/s", 0, false},
		{"NaN", 0, false},
	} {
		got, err := ParseRate(tc.in)
		if (err == nil) != tc.ok || float64(got) != tc.want {
			t.Errorf("ParseRate(%q) = %v, %v; want %v, ok=%v", tc.in, got, err, tc.want, tc.ok)
		}
	}
}

func TestRateString(t *testing.T) {
	for r, want := range map[Rate]string{500: "500/s", 0.5: "30/m", 2.0 / 3600: "2/h", 0: "0/s"} {
		if got := r.String(); got != want {
			t.Errorf("Rate(%v).String() = %q, want %q", float64(r), got, want)
		}
	}
}

// The scalars also work with plain yaml.Unmarshal, for packages that decode
// their own fragments.
func TestScalarsUnmarshalYAML(t *testing.T) {
	var v struct {
		D Duration `yaml:"d"`
		S Size     `yaml:"s"`
		R Rate     `yaml:"r"`
	}
	if err := yaml.Unmarshal([]byte("{d: 7d, s: 64KiB, r: 30/m}"), &v); err != nil {
		t.Fatal(err)
	}
	if v.D.D() != 7*24*time.Hour || v.S != 64<<10 || v.R != 0.5 {
		t.Errorf("got %+v", v)
	}
	if err := yaml.Unmarshal([]byte("{d: fast}"), &v); err == nil {
		t.Error("d: fast was accepted")
	}
	out, _ := yaml.Marshal(v)
	if string(out) != "d: 7d\ns: 64KiB\nr: 30/m\n" {
		t.Errorf("Marshal = %q", out)
	}
}
