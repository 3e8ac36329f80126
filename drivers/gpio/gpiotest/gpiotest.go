// Package gpiotest is a fake input pin for tests of drivers/gpio, in the
// manner of periph's own gpiotest (configure it by setting fields). It
// exists because periph's gpiotest pulls in a clock module this build does
// not carry; it implements only gpio.PinIn, as the driver is read-only.
package gpiotest

import (
	"errors"
	"sync"
	"time"

	"periph.io/x/conn/v3/gpio"
)

// Pin implements gpio.PinIn. Set N before use; grab the Mutex to change L
// while a driver runs. Send a level on EdgesChan to fake an edge: the
// waiting WaitForEdge sets L to it and returns true.
type Pin struct {
	N   string
	Num int

	sync.Mutex
	L         gpio.Level
	P         gpio.Pull
	EdgesChan chan gpio.Level
	// InErr, when set, is what In returns (a pin the kernel refuses).
	InErr error
	// Edge is the edge mode In was last called with.
	Edge gpio.Edge
}

func (p *Pin) String() string   { return p.N }
func (p *Pin) Halt() error      { return nil }
func (p *Pin) Name() string     { return p.N }
func (p *Pin) Number() int      { return p.Num }
func (p *Pin) Function() string { return "In" }

// In records pull and edge and, like a real input, takes the pulled level.
func (p *Pin) In(pull gpio.Pull, edge gpio.Edge) error {
	p.Lock()
	defer p.Unlock()
	if p.InErr != nil {
		return p.InErr
	}
	if edge != gpio.NoEdge && p.EdgesChan == nil {
		return errors.New("gpiotest: edges need EdgesChan")
	}
	p.P, p.Edge = pull, edge
	switch pull {
	case gpio.PullDown:
		p.L = gpio.Low
	case gpio.PullUp:
		p.L = gpio.High
	}
	return nil
}

func (p *Pin) Read() gpio.Level {
	p.Lock()
	defer p.Unlock()
	return p.L
}

// WaitForEdge waits up to timeout (-1: forever) for a level on EdgesChan.
func (p *Pin) WaitForEdge(timeout time.Duration) bool {
	var after <-chan time.Time
	if timeout >= 0 {
		t := time.NewTimer(timeout)
		defer t.Stop()
		after = t.C
	}
	select {
	case l := <-p.EdgesChan:
		p.Lock()
		p.L = l
		p.Unlock()
		return true
	case <-after:
		return false
	}
}

func (p *Pin) Pull() gpio.Pull {
	p.Lock()
	defer p.Unlock()
	return p.P
}

func (p *Pin) DefaultPull() gpio.Pull { return gpio.PullNoChange }

var _ gpio.PinIn = (*Pin)(nil)
