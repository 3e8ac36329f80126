package bench

import (
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"canary/tests/harness"
)

// BenchmarkBinarySize builds the stripped static binaries shipped to
// gateways and reports their sizes. It ignores b.N.
func BenchmarkBinarySize(b *testing.B) {
	if testing.Short() {
		b.Skip("binary size: skipped with -short")
	}
	root := harness.ModuleRoot(b)
	dir := b.TempDir()
	for _, t := range []struct{ name, goarch, goarm string }{
		{"arm", "arm", "7"},
		{"arm64", "arm64", ""},
		{"amd64", "amd64", ""},
	} {
		out := filepath.Join(dir, "canary-"+t.name)
		cmd := exec.Command("go", "build", "-trimpath", "-ldflags", "-s -w", "-o", out, ".")
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
