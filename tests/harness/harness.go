// Package harness runs the real canary binary for end-to-end tests and
// benchmarks: it builds the binary once per test process, writes configs
// for a simulated Modbus rack, starts and stops agent processes, and reads
// their CPU time (the process CPU clock) and RSS (/proc).
package harness

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"canary/drivers/modbus/modbustest"
	"canary/drivers/opcua/opcuatest"
)

// Release makes Binary build what ships to gateways (-tags nodemo,
// as firmware/release builds it): without `canary demo`, whose broker
// and simulator packages would otherwise run their init and add about
// 1 MiB of RSS the shipped agent does not have. The benchmarks set it;
// the CLI tests need demo.
var Release bool

var (
	buildOnce sync.Once
	binPath   string
	buildErr  error
)

// Main runs the tests, then the after funcs, and removes the binary
// Binary built.
func Main(m *testing.M, after ...func()) {
	code := m.Run()
	for _, f := range after {
		f()
	}
	if binPath != "" {
		os.RemoveAll(filepath.Dir(binPath))
	}
	os.Exit(code)
}

// Binary builds the canary binary (go build -trimpath) once per test
// process and returns its path.
func Binary(tb testing.TB) string {
	tb.Helper()
	buildOnce.Do(func() {
		root, err := moduleRoot()
		if err != nil {
			buildErr = err
			return
		}
		dir, err := os.MkdirTemp("", "canary-bin-")
		if err != nil {
			buildErr = err
			return
		}
		binPath = filepath.Join(dir, "canary")
		// CANARY_BUILD_TAGS=pprof builds a binary that writes the
		// profiles CANARY_CPUPROFILE and CANARY_MEMPROFILE name.
		// CGO_ENABLED=0 as the release builds it: static, no libc mapped
		// into the process (1.5 MiB of RSS the shipped agent does not have).
		tags := os.Getenv("CANARY_BUILD_TAGS")
		if Release {
			tags = strings.Trim("nodemo,"+tags, ",")
		}
		cmd := exec.Command("go", "build", "-trimpath", "-tags", tags, "-o", binPath, ".")
		cmd.Dir = root
		cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
		if out, err := cmd.CombinedOutput(); err != nil {
			buildErr = fmt.Errorf("go build: %v\n%s", err, out)
		}
	})
	if buildErr != nil {
		tb.Fatal(buildErr)
	}
	return binPath
}

// ModuleRoot is the canary module root: the first directory holding
// go.mod above the working directory.
func ModuleRoot(tb testing.TB) string {
	root, err := moduleRoot()
	if err != nil {
		tb.Fatal(err)
	}
	return root
}

func moduleRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", fmt.Errorf("harness: no go.mod above the working directory")
		}
		dir = parent
	}
}

// Agent is a running canary process. Its stderr goes to a file that is
// shown when the test fails.
type Agent struct {
	cmd    *exec.Cmd
	stderr string
	done   chan struct{}
	err    error
}

// StartAgent runs `canary run -c cfg` plus args; the process is killed at
// cleanup if it is still running.
func StartAgent(tb testing.TB, bin, cfg string, args ...string) *Agent {
	tb.Helper()
	f, err := os.CreateTemp(tb.TempDir(), "agent-*.stderr")
	if err != nil {
		tb.Fatal(err)
	}
	a := &Agent{cmd: exec.Command(bin, append([]string{"run", "-c", cfg}, args...)...), stderr: f.Name(), done: make(chan struct{})}
	a.cmd.Stderr = f
	if err := a.cmd.Start(); err != nil {
		tb.Fatal(err)
	}
	go func() { a.err = a.cmd.Wait(); f.Close(); close(a.done) }()
	tb.Cleanup(func() {
		a.Kill()
		if tb.Failed() {
			tb.Logf("agent %d %s", a.Pid(), a.StderrTail(4000))
		}
	})
	return a
}

// Pid is the process id.
func (a *Agent) Pid() int { return a.cmd.Process.Pid }

// Done is closed when the process has exited.
func (a *Agent) Done() <-chan struct{} { return a.done }

// Kill sends SIGKILL and waits for the exit.
func (a *Agent) Kill() {
	_ = a.cmd.Process.Signal(syscall.SIGKILL)
	<-a.done
}

// Stop sends SIGTERM and waits up to limit for a graceful exit.
func (a *Agent) Stop(limit time.Duration) error {
	_ = a.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-a.done:
		return nil
	case <-time.After(limit):
		return fmt.Errorf("agent did not stop within %v of SIGTERM", limit)
	}
}

// StderrTail is the last n bytes the agent logged.
func (a *Agent) StderrTail(n int) string {
	out, _ := os.ReadFile(a.stderr)
	if len(out) > n {
		out = out[len(out)-n:]
	}
	return "stderr:\n" + string(out)
}

// Rack describes a config for one Modbus TCP device with Points uint16
// holding registers P0000… at addresses 0…, or, with OPCUAEndpoint, for
// one OPC UA server (security None on loopback) with Points variables
// P0000… in opcuatest's namespace, subscribed at the interval.
type Rack struct {
	Dir        string // state dir; the outbox is Dir/outbox.db
	ModbusAddr string
	BrokerURL  string
	Points     int
	Interval   time.Duration
	// MQTT is extra flow-style keys for platform.mqtt, e.g. "max_inflight: 256".
	MQTT     string
	LogLevel string // default info
	// DefaultReconnect leaves the reconnect back-off at its defaults
	// instead of the tests' quick 200ms..1s.
	DefaultReconnect bool
	HTTP             string // http.listen; "" disables it
	// Extra is YAML appended to the device's points list, one
	// "      - {…}" line per point.
	Extra string
	// ModbusInflight is the device's max_inflight (0: the default, 1).
	ModbusInflight int
	// OPCUAEndpoint, when set, makes the device an OPC UA server.
	OPCUAEndpoint string
}

// WriteConfig writes the rack's config into r.Dir and returns its path.
func (r Rack) WriteConfig(tb testing.TB) string {
	tb.Helper()
	mqtt := "url: " + strconv.Quote(r.BrokerURL)
	if !r.DefaultReconnect {
		mqtt += ", reconnect_min: 200ms, reconnect_max: 1s"
	}
	if r.MQTT != "" {
		mqtt += ", " + r.MQTT
	}
	var b strings.Builder
	fmt.Fprintf(&b, `version: 1
site: {id: e2e-site, gateway: gw-01}
platform:
  mqtt: {%s}
buffer: {path: %q, max_bytes: 256MiB}
state_dir: %q
http: {listen: %q}
log: {level: %s}
devices:
`, mqtt, r.OutboxPath(), r.Dir, r.HTTP, cmp(r.LogLevel, "info"))
	if r.OPCUAEndpoint != "" {
		fmt.Fprintf(&b, `  - id: rack
    driver: opcua
    endpoint: %q
    mode: subscribe
    publish_interval: %v
    timeout: 5s
    security: {mode: None}
    points:
`, r.OPCUAEndpoint, r.Interval)
		for i := 0; i < r.Points; i++ {
			fmt.Fprintf(&b, "      - {id: %s, node: \"nsu=%s;s=%[1]s\"}\n", PointID(i), opcuatest.NamespaceURI)
		}
	} else {
		fmt.Fprintf(&b, `  - id: rack
    driver: modbus
    transport: tcp
    address: %q
    interval: %v
    timeout: 500ms
    max_interval: 10s
    max_inflight: %d
    points:
`, r.ModbusAddr, r.Interval, max(r.ModbusInflight, 1))
		for i := 0; i < r.Points; i++ {
			fmt.Fprintf(&b, "      - {id: %s, table: holding, address: %d, type: uint16}\n", PointID(i), i)
		}
	}
	b.WriteString(r.Extra)
	path := filepath.Join(r.Dir, "canary.yaml")
	if err := os.WriteFile(path, []byte(b.String()), 0o600); err != nil {
		tb.Fatal(err)
	}
	return path
}

// PointID is the rack's i-th point (P0000…): its id, and on OPC UA its
// variable's name.
func PointID(i int) string { return fmt.Sprintf("P%04d", i) }

// OutboxPath is where the rack's agent keeps its outbox.
func (r Rack) OutboxPath() string { return filepath.Join(r.Dir, "outbox.db") }

func cmp(a, b string) string {
	if a != "" {
		return a
	}
	return b
}

// CountUp makes the first points holding registers of unit 1 change every
// period: register i holds k+i at step k, so each point only grows.
func CountUp(srv *modbustest.Server, points int, period time.Duration) (stop func()) {
	vals := make([]uint16, points)
	return every(period, func(k uint16) {
		for i := range vals {
			vals[i] = k + uint16(i)
		}
		srv.SetHolding(1, 0, vals...)
	})
}

// CountUpOPCUA is CountUp for the OPC UA rack's variables P0000…: each
// holds k+i at step k, with the source time of the step.
func CountUpOPCUA(srv *opcuatest.Server, points int, period time.Duration) (stop func()) {
	names := make([]string, points)
	for i := range names {
		names[i] = PointID(i)
	}
	return every(period, func(k uint16) {
		now := time.Now()
		for i, n := range names {
			srv.Set(n, float64(k)+float64(i), now)
		}
	})
}

// OPCUAVars are the OPC UA rack's variables with their first values.
func OPCUAVars(points int) map[string]any {
	vars := make(map[string]any, points)
	for i := range points {
		vars[PointID(i)] = float64(i)
	}
	return vars
}

// every calls step(1), step(2)… every period until stop is called.
func every(period time.Duration, step func(k uint16)) (stop func()) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		t := time.NewTicker(period)
		defer t.Stop()
		for k := uint16(1); ; k++ {
			step(k)
			select {
			case <-ctx.Done():
				return
			case <-t.C:
			}
		}
	}()
	var once sync.Once
	return func() { once.Do(func() { cancel(); <-done }) }
}

// clockTicks is the USER_HZ of /proc/PID/stat times on Linux.
const clockTicks = 100

// cpuFromTicks is utime+stime of pid (/proc/PID/stat fields 14 and 15).
func cpuFromTicks(pid int) (time.Duration, error) {
	raw, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, err
	}
	// comm (field 2) may hold spaces: fields restart after its ')'.
	i := bytes.LastIndexByte(raw, ')')
	f := strings.Fields(string(raw[i+1:])) // f[0] is field 3
	if len(f) < 13 {
		return 0, fmt.Errorf("short /proc/%d/stat", pid)
	}
	ut, err1 := strconv.ParseUint(f[14-3], 10, 64)
	st, err2 := strconv.ParseUint(f[15-3], 10, 64)
	if err1 != nil || err2 != nil {
		return 0, fmt.Errorf("parse /proc/%d/stat: %v %v", pid, err1, err2)
	}
	return time.Duration(ut+st) * (time.Second / clockTicks), nil
}

// RSSMiB is VmRSS of pid in MiB.
func RSSMiB(pid int) (float64, error) {
	m, err := ReadMem(pid)
	return m.RSS, err
}

// Mem is a process's resident memory in MiB: VmRSS and its anonymous
// (heap, stacks) and file-backed (the binary, the mmapped outbox) parts,
// and Peak, the most VmRSS has been (VmHWM).
type Mem struct{ RSS, Anon, File, Peak float64 }

// ReadMem reads Mem from /proc/PID/status.
func ReadMem(pid int) (Mem, error) {
	raw, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return Mem{}, err
	}
	var m Mem
	for _, line := range strings.Split(string(raw), "\n") {
		k, v, ok := strings.Cut(line, ":")
		if !ok {
			continue
		}
		kb, err := strconv.ParseFloat(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 64)
		if err != nil {
			continue
		}
		switch k {
		case "VmRSS":
			m.RSS = kb / 1024
		case "RssAnon":
			m.Anon = kb / 1024
		case "RssFile":
			m.File = kb / 1024
		case "VmHWM":
			m.Peak = kb / 1024
		}
	}
	if m.RSS == 0 {
		return m, fmt.Errorf("no VmRSS in /proc/%d/status", pid)
	}
	return m, nil
}

// FreeAddr is a free 127.0.0.1 port, as host:port.
func FreeAddr(tb testing.TB) string {
	tb.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}
