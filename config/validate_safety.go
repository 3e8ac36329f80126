package config

import "time"

// safety checks the fields of the edge safety logic: the toxic-gas OEL
// preset and the permitted bypass duration.
func (v *checker) safety(p string, pt *Point) {
	switch {
	case pt.OEL != nil && pt.Gas != "toxic":
		v.errorf(p+".oel", "only a gas: toxic point has an OEL (gas is %q)", pt.Gas)
	case pt.OEL != nil && !(*pt.OEL > 0):
		v.errorf(p+".oel", "must be more than 0, got %g", *pt.OEL)
	case pt.Gas == "toxic" && pt.OEL == nil && !pt.Alarms.Any():
		v.errorf(p+".oel", "required for gas: toxic without explicit alarms (level 1 = 1×OEL, level 2 = 2×OEL, in the point's unit)")
	}
	switch {
	case pt.MaxBypass < 0:
		v.errorf(p+".max_bypass", "must not be negative, got %v", pt.MaxBypass.D())
	case pt.MaxBypass != 0 && pt.Kind != "bypass":
		v.errorf(p+".max_bypass", "only a bypass point has a permitted duration (kind is %s)", pt.Kind)
	}
	if pt.Alarms.OnDelay < 0 {
		v.errorf(p+".alarms.on_delay", "must not be negative, got %v", pt.Alarms.OnDelay.D())
	}
	if pt.Alarms.OffDelay < 0 {
		v.errorf(p+".alarms.off_delay", "must not be negative, got %v", pt.Alarms.OffDelay.D())
	}
}

var pulls = []string{"up", "down", "none"}

// gpio checks a device of dry contacts: one pin per point, read by polling.
func (v *checker) gpio(p string, d *Device) {
	v.positive(p+".interval", d.Interval)
	pins := seen{}
	for j := range d.Points {
		v.unique(indexPath(p+".points", j)+".pin", "pin", d.Points[j].Pin, pins)
	}
}

func (v *checker) gpioPoint(p string, pt *Point) {
	if pt.Pin == "" {
		v.errorf(p+".pin", "required for driver gpio (the pin's name, e.g. GPIO17)")
	}
	if pt.Pull != "" {
		v.oneOf(p+".pull", "pull", pt.Pull, pulls...)
	}
	if pt.Debounce < 0 || pt.Debounce.D() > 10*time.Second {
		v.errorf(p+".debounce", "must be between 0 and 10s, got %v", pt.Debounce.D())
	}
}
