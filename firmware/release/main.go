// Command release cross-compiles canary for the gateway targets, stamps
// version, commit and date, and writes a signed bundle for each:
//
//	go run ./firmware/release -version 1.2.0 -key release.key -out dist
//
// Output in DIR: canary-VERSION-OS-ARCH (the stripped binary),
// canary-VERSION-OS-ARCH.fwb (the bundle), canary.service (systemd unit),
// and a size table on stdout.
package main

import (
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"canary/firmware"
)

func main() {
	version := flag.String("version", "", "semantic version to stamp and sign (required)")
	key := flag.String("key", "", "signing key from `canary firmware keygen` (required)")
	out := flag.String("out", "dist", "output directory")
	commit := flag.String("commit", gitCommit(), "commit to stamp")
	date := flag.String("date", time.Now().UTC().Format(time.RFC3339), "build date to stamp")
	pkg := flag.String("pkg", ".", "main package to build")
	targets := flag.String("targets", "linux/armv7,linux/arm64,linux/amd64", "comma-separated targets")
	minVersion := flag.String("min-version", "", "oldest running version the bundles may replace")
	valid := flag.Duration("valid", 365*24*time.Hour, "how long the bundles may be installed")
	flag.Parse()
	if *version == "" || *key == "" {
		fmt.Fprintln(os.Stderr, "usage: go run ./firmware/release -version X -key FILE [-out DIR]")
		os.Exit(2)
	}
	if err := os.MkdirAll(*out, 0o755); err != nil {
		fatal(err)
	}
	ldflags := fmt.Sprintf("-s -w -X main.version=%s -X main.commit=%s -X main.date=%s", *version, *commit, *date)
	fmt.Printf("%-14s %12s  %s\n", "target", "binary bytes", "bundle")
	for _, ts := range strings.Split(*targets, ",") {
		t, err := firmware.ParseTarget(ts)
		if err != nil {
			fatal(err)
		}
		name := fmt.Sprintf("canary-%s-%s-%s", *version, t.OS, strings.ReplaceAll(t.String()[len(t.OS)+1:], "/", "-"))
		bin := filepath.Join(*out, name)
		if err := build(t, *pkg, ldflags, bin); err != nil {
			fatal(err)
		}
		created := time.Now().UTC().Truncate(time.Second)
		m := firmware.Manifest{Version: *version, Target: t, MinVersion: *minVersion, Created: created, Expires: created.Add(*valid)}
		got, err := firmware.SignFile(bin+".fwb", bin, m, *key)
		if err != nil {
			fatal(err)
		}
		fmt.Printf("%-14s %12d  %s\n", t, got.Payload.Size, bin+".fwb")
	}
	if err := os.WriteFile(filepath.Join(*out, "canary.service"), []byte(unit), 0o644); err != nil {
		fatal(err)
	}
}

// armLDFlags aligns 32-bit ARM segments to 4 KiB pages (Linux on ARMv7
// has no other page size) instead of the linker's 64 KiB: the padding
// between segments, about 100 KB of flash, goes. arm64 keeps 64 KiB,
// which kernels with 64 KiB pages need.
const armLDFlags = " -R 0x1000"

func build(t firmware.Target, pkg, ldflags, out string) error {
	// nodemo: a gateway never runs `canary demo` (an MQTT broker and a
	// Modbus simulator, 0.7 MB); `go build .` keeps it.
	if t.Arch == "arm" {
		ldflags += armLDFlags
	}
	cmd := exec.Command("go", "build", "-trimpath", "-tags", "nodemo", "-ldflags", ldflags, "-o", out, pkg)
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS="+t.OS, "GOARCH="+t.Arch)
	if t.ARM != 0 {
		cmd.Env = append(cmd.Env, "GOARM="+strconv.Itoa(t.ARM))
	}
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("build %s: %w", t, err)
	}
	return nil
}

func gitCommit() string {
	b, err := exec.Command("git", "rev-parse", "--short=12", "HEAD").Output()
	if err != nil {
		return "unknown"
	}
	return strings.TrimSpace(string(b))
}

func fatal(err error) {
	fmt.Fprintln(os.Stderr, "release:", err)
	os.Exit(1)
}

// unit runs canary through the launcher in the base binary, which
// updates never replace; see docs/firmware.md.
const unit = `[Unit]
Description=Canary edge gateway agent
After=network-online.target
Wants=network-online.target

[Service]
ExecStart=/usr/local/bin/canary firmware boot -dir /var/lib/canary/firmware -- run -c /etc/canary/canary.yaml
Restart=always
RestartSec=5
KillMode=control-group
TimeoutStopSec=30

[Install]
WantedBy=multi-user.target
`
