package config

import (
	"fmt"
	"maps"
	"reflect"
	"regexp"
	"slices"
)

// Profile is a reusable register map: the points of one detector model,
// written once and expanded into every device that names it, so a rack of
// 32 identical detectors is configured once. Point ids in a profile are
// suffixes: a device with id gas-07 expands point "gas" to "gas-07.gas"
// (see Device.PointsPrefix), and `of` naming another point of the profile
// is expanded the same way.
type Profile struct {
	Description string  `yaml:"description"`
	Points      []Point `yaml:"points"`
}

var profileName = regexp.MustCompile(`^[A-Za-z0-9_-]+$`)

// expandProfiles appends each device's profile points to its Points,
// applying its overrides, and records where each expanded point came
// from so that errors name the profile's (or override's) line and the
// device. It then clears Profile, PointsPrefix and Overrides, so the
// effective config (Redacted) parses to the same points.
func (c *Config) expandProfiles() Errors {
	v := &checker{c: c}
	for _, name := range slices.Sorted(maps.Keys(c.Profiles)) {
		if !profileName.MatchString(name) {
			v.errorf("profiles."+name, "profile name %q may only contain letters, digits, '_' and '-'", name)
		}
	}
	for i := range c.Devices {
		v.expand(indexPath("devices", i), &c.Devices[i])
	}
	return v.errs
}

func (v *checker) expand(p string, d *Device) {
	if d.Profile == "" {
		if len(d.Overrides) > 0 || d.PointsPrefix != nil {
			v.errorf(p+".profile", "required with overrides or points_prefix")
		}
		return
	}
	prof, ok := v.c.Profiles[d.Profile]
	if !ok {
		msg := fmt.Sprintf("no profile named %q", d.Profile)
		if s := suggest(d.Profile, slices.Sorted(maps.Keys(v.c.Profiles))); s != "" {
			msg += fmt.Sprintf(" (did you mean %q?)", s)
		}
		v.errorf(p+".profile", "%s", msg)
		return
	}
	prefix := d.ID + "."
	if d.PointsPrefix != nil {
		prefix = *d.PointsPrefix
	}
	suffixes := make([]string, len(prof.Points))
	for k, pt := range prof.Points {
		suffixes[k] = pt.ID
	}
	for _, id := range slices.Sorted(maps.Keys(d.Overrides)) {
		if !slices.Contains(suffixes, id) {
			msg := fmt.Sprintf("profile %s has no point %q", d.Profile, id)
			if s := suggest(id, suffixes); s != "" {
				msg += fmt.Sprintf(" (did you mean %q?)", s)
			}
			v.errorf(p+".overrides."+id, "%s", msg)
		}
	}
	pp := "profiles." + d.Profile + ".points"
	for k, pt := range prof.Points {
		src, over := indexPath(pp, k), p+".overrides."+pt.ID
		pt.Meta = maps.Clone(pt.Meta)
		if o, ok := d.Overrides[pt.ID]; ok {
			v.override(reflect.ValueOf(&pt).Elem(), reflect.ValueOf(o), over)
		}
		if pt.ID != "" {
			pt.ID = prefix + pt.ID
		}
		if pt.Of != "" && slices.Contains(suffixes, pt.Of) {
			pt.Of = prefix + pt.Of
		}
		dst := indexPath(p+".points", len(d.Points))
		v.c.pos.alias[dst] = &origin{from: []string{over, src}, device: d.ID,
			note: fmt.Sprintf("(profile %s, device %s)", d.Profile, d.ID)}
		v.c.pos.lines[dst] = v.c.pos.line(src)
		d.Points = append(d.Points, pt)
	}
	d.Profile, d.PointsPrefix, d.Overrides = "", nil, nil
}

// override copies into dst the fields the file wrote under path in src:
// structs (alarms, signal) field by field, meta key by key.
func (v *checker) override(dst, src reflect.Value, path string) {
	if path == "" {
		return
	}
	f := fieldsOf(dst.Type())
	for _, name := range f.names {
		child := path + "." + name
		if !v.c.pos.has(child) {
			continue
		}
		i := f.index[name]
		dv, sv := dst.Field(i), src.Field(i)
		switch {
		case name == "id":
			v.errorf(child, "an override cannot rename a point")
		case dv.Kind() == reflect.Struct && dv.Type() == reflect.TypeFor[Alarms]():
			v.override(dv, sv, child)
		case dv.Kind() == reflect.Map && !dv.IsNil():
			for _, k := range sv.MapKeys() {
				dv.SetMapIndex(k, sv.MapIndex(k))
			}
		default:
			dv.Set(sv)
		}
	}
}
