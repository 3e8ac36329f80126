package config

import (
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"

	"gopkg.in/yaml.v3"
)

// The custom scalars read and print human units. Their parse errors are
// messages meant to follow a field path ("interval: expected a duration
// ..."), so they carry no package prefix; the exported Parse* wrappers add
// one for callers such as CLI flags.

const day = 24 * time.Hour

// ParseDuration reads a Go duration ("500ms", "1m30s") or whole and
// fractional days ("7d", "1.5d", "1d12h"). Negative durations are errors:
// no setting in this config means "before now".
func ParseDuration(s string) (Duration, error) {
	d, err := parseDuration(s)
	return d, prefixed(err)
}

func parseDuration(s string) (Duration, error) {
	bad := fmt.Errorf("expected a duration like 500ms or 1m, got %q", s)
	if strings.HasPrefix(s, "-") {
		return 0, fmt.Errorf("a duration cannot be negative, got %q", s)
	}
	days, rest, hasDays := 0.0, s, false
	if i := strings.IndexByte(s, 'd'); i > 0 {
		hasDays = true
		n, err := strconv.ParseFloat(s[:i], 64)
		if err != nil || n < 0 || math.IsInf(n, 0) || math.IsNaN(n) {
			return 0, bad
		}
		days, rest = n, s[i+1:]
	}
	var d time.Duration
	if rest != "" || !hasDays {
		var err error
		if d, err = time.ParseDuration(rest); err != nil {
			return 0, bad
		}
	}
	total := days*float64(day) + float64(d)
	if total >= math.MaxInt64 {
		return 0, fmt.Errorf("duration %q is too long", s)
	}
	return Duration(int64(days*float64(day)) + int64(d)), nil
}

// String prints whole days as "7d" and drops zero trailing units, so the
// result reads back the same: "1m", "1h30m", "500ms".
func (d Duration) String() string {
	td := time.Duration(d)
	if td >= day && td%day == 0 {
		return strconv.FormatInt(int64(td/day), 10) + "d"
	}
	s := td.String()
	if strings.HasSuffix(s, "m0s") {
		s = strings.TrimSuffix(s, "0s")
	}
	if strings.HasSuffix(s, "h0m") {
		s = strings.TrimSuffix(s, "0m")
	}
	return s
}

func (d Duration) MarshalYAML() (any, error) { return d.String(), nil }

func (d *Duration) UnmarshalYAML(n *yaml.Node) error {
	return unmarshalScalar(n, d, parseDuration)
}

func (d *Duration) set(s string) (err error) { *d, err = parseDuration(s); return err }

type unit struct {
	suffix string
	bytes  int64
}

// Longest suffixes first so "MiB" is not read as "B".
var sizeUnits = []unit{
	{"KiB", 1 << 10}, {"MiB", 1 << 20}, {"GiB", 1 << 30}, {"TiB", 1 << 40},
	{"kB", 1e3}, {"KB", 1e3}, {"MB", 1e6}, {"GB", 1e9}, {"TB", 1e12},
	{"B", 1},
}

// ParseSize reads a byte count: "256MiB", "1GiB", "64KiB" (powers of 1024),
// "10MB", "64KB" (powers of 1000), "512" or "512B" (bytes).
func ParseSize(s string) (Size, error) {
	n, err := parseSize(s)
	return n, prefixed(err)
}

func parseSize(s string) (Size, error) {
	num, mult := s, int64(1)
	for _, u := range sizeUnits {
		if strings.HasSuffix(s, u.suffix) {
			num, mult = strings.TrimSpace(strings.TrimSuffix(s, u.suffix)), u.bytes
			break
		}
	}
	n, err := strconv.ParseInt(num, 10, 64)
	if err != nil || n < 0 {
		return 0, fmt.Errorf("expected a size like 256MiB or 64KiB, got %q", s)
	}
	if n > math.MaxInt64/mult {
		return 0, fmt.Errorf("size %q is too large", s)
	}
	return Size(n * mult), nil
}

// String prints the largest binary unit that divides the size exactly.
func (n Size) String() string {
	for i := 3; i >= 0; i-- {
		u := sizeUnits[i]
		if n != 0 && int64(n)%u.bytes == 0 {
			return strconv.FormatInt(int64(n)/u.bytes, 10) + u.suffix
		}
	}
	return strconv.FormatInt(int64(n), 10)
}

func (n Size) MarshalYAML() (any, error) { return n.String(), nil }

func (n *Size) UnmarshalYAML(node *yaml.Node) error { return unmarshalScalar(node, n, parseSize) }

func (n *Size) set(s string) (err error) { *n, err = parseSize(s); return err }

var ratePer = map[string]float64{"s": 1, "m": 60, "h": 3600}

// ParseRate reads a count per unit of time: "500/s", "30/m", "2/h", or a
// bare number meaning per second.
func ParseRate(s string) (Rate, error) {
	r, err := parseRate(s)
	return r, prefixed(err)
}

func parseRate(s string) (Rate, error) {
	num, per := s, 1.0
	if i := strings.IndexByte(s, '/'); i >= 0 {
		p, ok := ratePer[strings.TrimSpace(s[i+1:])]
		if !ok {
			return 0, fmt.Errorf("expected a rate like 500/s or 30/m, got %q", s)
		}
		num, per = strings.TrimSpace(s[:i]), p
	}
	f, err := strconv.ParseFloat(num, 64)
	if err != nil || f < 0 || math.IsInf(f, 0) || math.IsNaN(f) {
		return 0, fmt.Errorf("expected a rate like 500/s or 30/m, got %q", s)
	}
	return Rate(f / per), nil
}

// String prints per second, or per minute or hour when that is a whole
// number and per second is not ("30/m" rather than "0.5/s").
func (r Rate) String() string {
	for _, u := range []struct {
		name string
		per  float64
	}{{"s", 1}, {"m", 60}, {"h", 3600}} {
		v := float64(r) * u.per
		if v == math.Trunc(v) {
			return strconv.FormatFloat(v, 'f', -1, 64) + "/" + u.name
		}
	}
	return strconv.FormatFloat(float64(r), 'g', -1, 64) + "/s"
}

func (r Rate) MarshalYAML() (any, error) { return r.String(), nil }

func (r *Rate) UnmarshalYAML(n *yaml.Node) error { return unmarshalScalar(n, r, parseRate) }

func (r *Rate) set(s string) (err error) { *r, err = parseRate(s); return err }

// scalarSetter is implemented by the custom scalars; the decoder uses it
// so that field errors carry the scalar's own message.
type scalarSetter interface{ set(string) error }

func unmarshalScalar[T any](n *yaml.Node, dst *T, parse func(string) (T, error)) error {
	if n.Kind != yaml.ScalarNode {
		return errors.New("config: expected a scalar value")
	}
	v, err := parse(n.Value)
	if err != nil {
		return prefixed(err)
	}
	*dst = v
	return nil
}

func prefixed(err error) error {
	if err == nil {
		return nil
	}
	return fmt.Errorf("config: %w", err)
}
