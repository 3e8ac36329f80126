package gpio

import (
	"errors"
	"fmt"
	"time"

	"periph.io/x/conn/v3/driver/driverreg"
	"periph.io/x/conn/v3/gpio"
	"periph.io/x/conn/v3/gpio/gpioreg"
	_ "periph.io/x/host/v3/gpioioctl" // the GPIO character device (/dev/gpiochipN), any board
	_ "periph.io/x/host/v3/sysfs"     // /sys/class/gpio, for old kernels

	"canary/config"
	"canary/drivers"
)

// ErrNoPin is returned (wrapped) when a configured pin is not in the
// registry: a wrong name, or a host without GPIO.
var ErrNoPin = errors.New("gpio: no such pin")

// Driver opens one Source per gpio device. The zero value uses the real
// host; tests set the hooks.
type Driver struct {
	// Init prepares the host's GPIO drivers; nil: periph's driver
	// registry with the kernel's generic drivers only (gpioioctl, sysfs),
	// not host.Init's board drivers: those register a dozen SoCs' memory
	// mapped GPIO (half a megabyte of binary) and bypass the kernel, which
	// a dry-contact input polled every 100 ms does not need.
	Init func() error
	// Lookup finds a pin by name; nil: gpioreg.ByName.
	Lookup func(name string) gpio.PinIn
	// EdgeWait bounds one wait for an edge, so the edge goroutines notice
	// the end of Run; 0: one second.
	EdgeWait time.Duration
}

// Open does no I/O: pins are looked up and configured in Run.
func (d Driver) Open(devices []config.Device, env drivers.Env) ([]drivers.Source, error) {
	out := make([]drivers.Source, 0, len(devices))
	for _, dev := range devices {
		s := &Source{drv: d, env: env, device: dev.ID, interval: dev.Interval.D()}
		if s.interval <= 0 {
			s.interval = 100 * time.Millisecond
		}
		for _, pt := range dev.Points {
			pull, err := parsePull(pt.Pull)
			if err != nil {
				return nil, fmt.Errorf("gpio: device %s point %s: %w", dev.ID, pt.ID, err)
			}
			s.contacts = append(s.contacts, &contact{id: pt.ID, name: pt.Pin, pull: pull,
				invert: pt.Invert, debounce: pt.Debounce.D()})
		}
		out = append(out, s)
	}
	return out, nil
}

func parsePull(s string) (gpio.Pull, error) {
	switch s {
	case "":
		return gpio.PullNoChange, nil
	case "up":
		return gpio.PullUp, nil
	case "down":
		return gpio.PullDown, nil
	case "none":
		return gpio.Float, nil
	}
	return 0, fmt.Errorf("unknown pull %q (want up, down or none)", s)
}

func (d Driver) init() (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("gpio: host init panicked: %v", r)
		}
	}()
	f := d.Init
	if f == nil {
		f = func() error { _, err := driverreg.Init(); return err }
	}
	if err := f(); err != nil {
		return fmt.Errorf("gpio: host init (is there GPIO on this machine?): %w", err)
	}
	return nil
}

func (d Driver) lookup(name string) gpio.PinIn {
	if d.Lookup != nil {
		return d.Lookup(name)
	}
	return gpioreg.ByName(name)
}

func (d Driver) edgeWait() time.Duration {
	if d.EdgeWait > 0 {
		return d.EdgeWait
	}
	return time.Second
}
