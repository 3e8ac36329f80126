//go:build nodemo

package main

import "canary/agent"

// demo: this build has none (canary demo says so).
func demo(agent.Options) agent.DemoFunc { return nil }
