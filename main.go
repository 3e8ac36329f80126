// Command canary is the edge gateway agent. See README.md.
package main

import (
	"log/slog"
	"os"
	"runtime/debug"

	"canary/agent"
	"canary/agent/command"
	"canary/buffer/bufcli"
	"canary/config"
	"canary/drivers"
	"canary/drivers/gpio"
	"canary/drivers/modbus"
	"canary/drivers/mqtt"
	"canary/drivers/opcua"
	"canary/firmware"
)

// Set by the release build with -ldflags "-X main.version=…".
var (
	version = "dev"
	commit  = "unknown"
	date    = "unknown"
)

// atExit runs before the process exits (profiling builds only).
var atExit []func()

func main() {
	stampFromBuildInfo()
	code := agent.Main(os.Args[1:], os.Stdout, os.Stderr, wiring())
	for _, f := range atExit {
		f()
	}
	os.Exit(code)
}

// stampFromBuildInfo fills commit and date from the VCS stamp Go embeds
// in a plain `go build`, when -ldflags did not set them.
func stampFromBuildInfo() {
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return
	}
	for _, s := range bi.Settings {
		switch {
		case s.Key == "vcs.revision" && commit == "unknown":
			commit = s.Value[:min(12, len(s.Value))]
		case s.Key == "vcs.time" && date == "unknown":
			date = s.Value
		}
	}
}

// wiring plugs the protocol drivers into the agent, which imports none.
func wiring() agent.Wiring {
	reg := &drivers.Registry{}
	reg.Register("modbus", modbus.Driver{})
	reg.Register("gpio", gpio.Driver{})
	reg.Register("opcua", opcua.Driver{})
	opts := agent.Options{Registry: reg, NewSink: newSink, Firmware: firmware.Process{}}
	cmds := map[string]agent.Command{}
	for name, c := range (firmware.CLI{Version: version}).Commands() {
		cmds["firmware "+name] = agent.Command{Summary: c.Summary, Run: c.Run}
	}
	for name, c := range command.CLI() {
		cmds["command "+name] = agent.Command{Summary: c.Summary, Run: c.Run}
	}
	cmds["probe opcua"] = agent.Command{Summary: opcua.ProbeSummary, Run: opcua.Probe}
	cmds["probe modbus"] = agent.Command{Summary: modbus.ProbeSummary, Run: modbus.Probe}
	cmds["buffer inspect"] = agent.Command{Summary: bufcli.InspectSummary, Run: bufcli.Inspect}
	cmds["buffer export"] = agent.Command{Summary: bufcli.ExportSummary, Run: bufcli.Export}
	return agent.Wiring{
		Options:  opts,
		Demo:     demo(opts),
		Build:    agent.Build{Version: version, Commit: commit, Date: date},
		Commands: cmds,
	}
}

func newSink(c config.MQTT, will *drivers.Message, log *slog.Logger) (drivers.Sink, error) {
	s, err := mqtt.FromConfig(c, will, log)
	if err != nil {
		return nil, err
	}
	return s, nil
}
