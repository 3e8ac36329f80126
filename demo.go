//go:build !nodemo

package main

import (
	"canary/agent"
	"canary/drivers/sim"
)

// demo is `canary demo`: a simulated rack and an in-process broker. The
// release build for gateways leaves it out (-tags nodemo, see
// firmware/release): the broker and the simulator are 0.6 MB of binary a
// gateway never runs.
func demo(opts agent.Options) agent.DemoFunc { return sim.Demo(opts) }
