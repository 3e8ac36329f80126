// Command fakeagent stands in for canary in the firmware trial tests. Its
// behaviour is stamped at build time: -X main.mode=commit|hang|crash.
// It appends "VERSION MODE SLOT trial=BOOL" to $FAKE_LOG on start.
package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"canary/firmware"
)

var (
	version = "0.0.0"
	mode    = "commit"
)

func main() {
	st, err := firmware.TrialState()
	if err != nil {
		fmt.Fprintln(os.Stderr, "fakeagent:", err)
		os.Exit(3)
	}
	logLine(fmt.Sprintf("%s %s %s trial=%v", version, mode, st.Slot, st.Trial))
	switch mode {
	case "crash":
		os.Exit(1)
	case "hang": // runs, but never becomes healthy
		ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
		defer stop()
		<-ctx.Done()
	default:
		if err := firmware.Commit(); err != nil {
			fmt.Fprintln(os.Stderr, "fakeagent:", err)
			os.Exit(4)
		}
	}
}

func logLine(s string) {
	f, err := os.OpenFile(os.Getenv("FAKE_LOG"), os.O_APPEND|os.O_CREATE|os.O_WRONLY, 0o644)
	if err != nil {
		os.Exit(5)
	}
	fmt.Fprintln(f, s)
	f.Close()
}
