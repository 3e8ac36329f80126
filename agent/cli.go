package agent

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"runtime"
	"runtime/debug"
	"sort"
	"strings"
	"syscall"
	"time"

	"canary/config"
)

// Exit codes of the canary binary.
const (
	ExitOK      = 0
	ExitFailure = 1 // runtime or validation failure
	ExitUsage   = 2
)

// Build identifies the binary; main sets it from -ldflags.
type Build struct {
	Version, Commit, Date string
}

// DemoFunc runs the self-contained demo for d (0: until ctx ends) and
// reports whether the platform side got every record.
type DemoFunc func(ctx context.Context, out io.Writer, d time.Duration, log *slog.Logger) error

// Command is a subcommand a driver or package contributes, such as
// `probe modbus` or `firmware`. Run returns the exit code.
type Command struct {
	Summary string // one line for the usage text
	Run     func(ctx context.Context, args []string, stdout, stderr io.Writer) int
}

// Wiring is what the binary plugs into the CLI.
type Wiring struct {
	Options
	Demo  DemoFunc
	Build Build
	// Commands are extra subcommands by name; a name may be two words
	// ("probe modbus"), matched before one-word names.
	Commands map[string]Command
}

const usage = `canary — edge gateway agent for safety monitoring (read-only towards the plant)

usage:
  canary run -c FILE           run the agent (config path also from CANARY_CONFIG)
  canary check -c FILE         validate a config; print every error as FILE:LINE: field: message
                               (and settings that weaken security as "warning: …"; exit 0)
  canary demo [--for DURATION] simulated detectors, a local broker and the real agent
  canary version               version, commit, build date, Go version, platform

flags common to run and demo:
  --log-format text|json       log format on stderr (default text)
  --log-level debug|info|warn|error
`

// Main runs the CLI and returns the exit code.
func Main(args []string, stdout, stderr io.Writer, w Wiring) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, usageText(w))
		return ExitUsage
	}
	cmd, rest := args[0], args[1:]
	switch cmd {
	case "version", "--version", "-v":
		fmt.Fprintf(stdout, "canary %s (commit %s, built %s, %s, %s/%s)\n", w.Build.Version, w.Build.Commit,
			w.Build.Date, runtime.Version(), runtime.GOOS, runtime.GOARCH)
		return ExitOK
	case "check":
		return cmdCheck(rest, stdout, stderr)
	case "run":
		return cmdRun(rest, stderr, w)
	case "demo":
		return cmdDemo(rest, stdout, stderr, w)
	case "help", "-h", "--help":
		fmt.Fprint(stdout, usageText(w))
		return ExitOK
	}
	if c, rest, ok := w.lookup(args); ok {
		ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
		defer stop()
		return c.Run(ctx, rest, stdout, stderr)
	}
	fmt.Fprintf(stderr, "canary: unknown command %q\n\n%s", strings.Join(args[:min(2, len(args))], " "), usageText(w))
	return ExitUsage
}

func (w Wiring) lookup(args []string) (Command, []string, bool) {
	if len(args) >= 2 {
		if c, ok := w.Commands[args[0]+" "+args[1]]; ok {
			return c, args[2:], true
		}
	}
	c, ok := w.Commands[args[0]]
	return c, args[1:], ok
}

func usageText(w Wiring) string {
	if len(w.Commands) == 0 {
		return usage
	}
	names := make([]string, 0, len(w.Commands))
	for n := range w.Commands {
		names = append(names, n)
	}
	sort.Strings(names)
	var b strings.Builder
	b.WriteString(usage)
	b.WriteString("\nmore commands:\n")
	for _, n := range names {
		fmt.Fprintf(&b, "  canary %-22s %s\n", n, w.Commands[n].Summary)
	}
	return b.String()
}

type logFlags struct {
	format, level string
	lv            slog.LevelVar // the level of the logger made, changeable at run time
}

func (l *logFlags) register(fs *flag.FlagSet) {
	fs.StringVar(&l.format, "log-format", "", "log format: text or json")
	fs.StringVar(&l.level, "log-level", "", "log level: debug, info, warn, error")
}

func (l *logFlags) logger(stderr io.Writer, cfg *config.Config) (*slog.Logger, error) {
	format, level := l.format, l.level
	if cfg != nil {
		format = cmp(format, cfg.Log.Format)
		level = cmp(level, cfg.Log.Level)
	}
	var lv slog.Level
	if err := lv.UnmarshalText([]byte(cmp(level, "info"))); err != nil {
		return nil, fmt.Errorf("log level %q: want debug, info, warn or error", level)
	}
	l.lv.Set(lv)
	o := &slog.HandlerOptions{Level: &l.lv}
	switch cmp(format, "text") {
	case "text":
		return slog.New(slog.NewTextHandler(stderr, o)), nil
	case "json":
		return slog.New(slog.NewJSONHandler(stderr, o)), nil
	}
	return nil, fmt.Errorf("log format %q: want text or json", format)
}

func cmp(a, b string) string {
	if a != "" {
		return a
	}
	return b
}

func newFlagSet(name string, stderr io.Writer) *flag.FlagSet {
	fs := flag.NewFlagSet("canary "+name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	return fs
}

func configPath(fs *flag.FlagSet, args []string) (string, error) {
	path := fs.String("c", os.Getenv("CANARY_CONFIG"), "config file (or CANARY_CONFIG)")
	fs.StringVar(path, "config", *path, "config file (or CANARY_CONFIG)")
	if err := fs.Parse(args); err != nil {
		return "", err
	}
	if fs.NArg() > 0 {
		return "", fmt.Errorf("unexpected arguments: %s", strings.Join(fs.Args(), " "))
	}
	if *path == "" {
		return "", errors.New("no config: give -c FILE or set CANARY_CONFIG")
	}
	return *path, nil
}

func cmdCheck(args []string, stdout, stderr io.Writer) int {
	fs := newFlagSet("check", stderr)
	path, err := configPath(fs, args)
	if err != nil {
		fmt.Fprintln(stderr, "canary check:", err)
		return ExitUsage
	}
	cfg, err := config.Load(path)
	if err != nil {
		printConfigErrors(stderr, err)
		return ExitFailure
	}
	for _, w := range cfg.Warnings() { // accepted on purpose: valid, but said
		fmt.Fprintln(stderr, "warning:", w.Error())
	}
	fmt.Fprintf(stdout, "%s: ok\n", path)
	return ExitOK
}

// printConfigErrors prints one error per line.
func printConfigErrors(w io.Writer, err error) {
	var errs config.Errors
	if errors.As(err, &errs) {
		for _, e := range errs {
			fmt.Fprintln(w, e.Error())
		}
		return
	}
	fmt.Fprintln(w, err)
}

func cmdRun(args []string, stderr io.Writer, w Wiring) int {
	fs := newFlagSet("run", stderr)
	var lf logFlags
	lf.register(fs)
	path, err := configPath(fs, args)
	if err != nil {
		fmt.Fprintln(stderr, "canary run:", err)
		return ExitUsage
	}
	cfg, err := config.Load(path)
	if err != nil {
		printConfigErrors(stderr, err)
		return ExitFailure
	}
	log, err := lf.logger(stderr, cfg)
	if err != nil {
		fmt.Fprintln(stderr, "canary run:", err)
		return ExitUsage
	}
	tuneRuntime()
	// The parsed YAML of a 10,000-point config is garbage now; hand its
	// pages back before the agent starts (about 0.6 MiB less RSS at
	// 10,000 points in two paired runs, see tests/bench/RESULTS.md).
	debug.FreeOSMemory()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	opts := w.Options
	opts.Log, opts.Version, opts.LogLevel = log, w.Build.Version, &lf.lv
	opts.BuildTime, _ = time.Parse(time.RFC3339, w.Build.Date)
	log.Info("canary starting", "version", w.Build.Version, "site", cfg.Site.ID,
		"gateway", cfg.Site.Gateway, "devices", len(cfg.Devices), "config", path)
	if err := NewRunner(opts).Run(ctx, cfg); err != nil {
		log.Error("stopped with error", "err", err)
		return ExitFailure
	}
	return ExitOK
}

// gcPercent is the agent's GOGC unless the environment sets one: the heap
// may grow to 1.5× what is live between collections instead of 2×. At
// 10,000 points that is about 3 MiB less VmRSS (anonymous 15.6 → 12.6 MiB)
// and, since paho no longer makes garbage of every payload, no CPU
// difference above the noise of paired runs (tests/bench/RESULTS.md);
// GOGC=25 would save 1.5 MiB more for 3–5 % more CPU.
const gcPercent = 50

// maxProcs is the agent's GOMAXPROCS unless the environment sets one. The
// agent is I/O-bound (a scan of 10,000 points is a few ms of CPU), and
// with more than one P the scheduler spins idle Ps awake on every Modbus
// reply and MQTT ack: paired runs on 2 cores spent 11–31 % less CPU a
// sample with one at 1 s and 100 ms scans, 1–8 % at 20 ms
// (tests/bench/RESULTS.md). It also keeps the agent to one core's worth
// of Go code next to the gateway's other software; blocking system calls
// (fsync) still run on threads of their own.
const maxProcs = 1

// tuneRuntime sets GOGC and GOMAXPROCS for `canary run` where the
// environment leaves them unset.
func tuneRuntime() {
	if os.Getenv("GOGC") == "" {
		debug.SetGCPercent(gcPercent)
	}
	if os.Getenv("GOMAXPROCS") == "" {
		runtime.GOMAXPROCS(maxProcs)
	}
}

func cmdDemo(args []string, stdout, stderr io.Writer, w Wiring) int {
	fs := newFlagSet("demo", stderr)
	var lf logFlags
	lf.register(fs)
	d := fs.Duration("for", 0, "stop after this long and verify delivery (0: until Ctrl-C)")
	if err := fs.Parse(args); err != nil || fs.NArg() > 0 {
		if err == nil {
			fmt.Fprintln(stderr, "canary demo: unexpected arguments:", strings.Join(fs.Args(), " "))
		}
		return ExitUsage
	}
	if lf.level == "" {
		lf.level = "error" // the demo prints what the platform sees; logs are for trouble
	}
	log, err := lf.logger(stderr, nil)
	if err != nil {
		fmt.Fprintln(stderr, "canary demo:", err)
		return ExitUsage
	}
	if w.Demo == nil {
		fmt.Fprintln(stderr, "canary demo: not in this build (release builds for gateways leave it out; `go run . demo` in the source tree has it)")
		return ExitFailure
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := w.Demo(ctx, stdout, *d, log); err != nil {
		fmt.Fprintln(stderr, "canary demo:", err)
		return ExitFailure
	}
	return ExitOK
}
