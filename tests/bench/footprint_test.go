package bench

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"canary/tests/harness"
)

// BenchmarkBinarySize builds the stripped static binaries shipped to
// gateways (release builds: -tags nodemo) and reports their sizes, and
// the arm one with the demo for comparison. It ignores b.N.
func BenchmarkBinarySize(b *testing.B) {
	if testing.Short() {
		b.Skip("binary size: skipped with -short")
	}
	root := harness.ModuleRoot(b)
	dir := b.TempDir()
	for _, t := range []struct{ name, goarch, goarm, tags string }{
		{"arm", "arm", "7", "nodemo"}, // what ships to gateways (firmware/release)
		{"arm64", "arm64", "", "nodemo"},
		{"amd64", "amd64", "", "nodemo"},
		{"arm-with-demo", "arm", "7", ""}, // go build . as it is
	} {
		out := filepath.Join(dir, "canary-"+t.name)
		ldflags := "-s -w"
		if t.goarch == "arm" {
			ldflags += " -R 0x1000" // 4 KiB segment alignment, as firmware/release builds arm
		}
		cmd := exec.Command("go", "build", "-trimpath", "-tags", t.tags, "-ldflags", ldflags, "-o", out, ".")
		cmd.Dir = root
		cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS=linux", "GOARCH="+t.goarch)
		if t.goarm != "" {
			cmd.Env = append(cmd.Env, "GOARM="+t.goarm)
		}
		if msg, err := cmd.CombinedOutput(); err != nil {
			b.Fatalf("build %s: %v\n%s", t.name, err, msg)
		}
		fi, err := os.Stat(out)
		if err != nil {
			b.Fatal(err)
		}
		b.ReportMetric(float64(fi.Size())/(1<<20), t.name+"-MiB")
	}
	b.ReportMetric(0, "ns/op")
}

// BenchmarkIdle is the agent's footprint with one point scanned every
// second: RSS (and its anonymous part), goroutines and the CPU an idle
// agent spends, over CANARY_BENCH_WINDOW (default 10s). It ignores b.N.
func BenchmarkIdle(b *testing.B) {
	if testing.Short() {
		b.Skip("end-to-end benchmark: skipped with -short")
	}
	r := startRig(b, 1, time.Second, rigOptions{})
	b.ResetTimer()
	r.plat.openWindow(time.Now())
	u := r.watch(b, envDuration("CANARY_BENCH_WINDOW", 10*time.Second), nil)
	w := r.plat.closeWindow()
	gor := agentGoroutines(r.http)
	b.StopTimer()
	r.stop(b)
	row := newRow("idle", 1, time.Second, u, w)
	row.note = fmt.Sprintf("%d goroutines", gor)
	b.ReportMetric(float64(gor), "goroutines")
	row.report(b)
}
