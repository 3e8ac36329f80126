package tests

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"canary/tests/harness"
)

// runCanary runs the binary and returns its exit code, stdout and stderr.
func runCanary(t *testing.T, env []string, args ...string) (int, string, string) {
	t.Helper()
	cmd := exec.Command(harness.Binary(t), args...)
	cmd.Env = append(os.Environ(), env...)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatal(err)
	}
	return code, out.String(), errb.String()
}

// The exit codes are a contract for scripts and systemd: 0 ok, 1 failure,
// 2 usage.
func TestCLIExitCodes(t *testing.T) {
	bad := filepath.Join("..", "config", "testdata", "errors", "several-errors", "config.yaml")
	good := filepath.Join("..", "config", "examples", "minimal.yaml")
	cases := []struct {
		name string
		env  []string
		args []string
		code int
		want string // in stdout+stderr
	}{
		{"version", nil, []string{"version"}, 0, "canary "},
		{"no command", nil, nil, 2, "usage:"},
		{"unknown command", nil, []string{"frobnicate"}, 2, `unknown command "frobnicate"`},
		{"check valid", nil, []string{"check", "-c", good}, 0, "ok"},
		{"check from env", []string{"CANARY_CONFIG=" + good}, []string{"check"}, 0, "ok"},
		{"check invalid", nil, []string{"check", "-c", bad}, 1, "config.yaml:6: platform.mqtt.max_inflight:"},
		{"check missing file", nil, []string{"check", "-c", "/nonexistent/canary.yaml"}, 1, "no such file"},
		{"check without config", []string{"CANARY_CONFIG="}, []string{"check"}, 2, "no config"},
		{"run bad flag", nil, []string{"run", "--bogus"}, 2, "flag provided but not defined"},
		{"run invalid config", nil, []string{"run", "-c", bad}, 1, "devices[0].unit_id"},
		{"demo bad duration", nil, []string{"demo", "--for", "soon"}, 2, "invalid value"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			code, out, errs := runCanary(t, c.env, c.args...)
			if code != c.code {
				t.Errorf("exit %d, want %d\nstdout: %s\nstderr: %s", code, c.code, out, errs)
			}
			if !strings.Contains(out+errs, c.want) {
				t.Errorf("output lacks %q\nstdout: %s\nstderr: %s", c.want, out, errs)
			}
		})
	}
}

// canary check prints every error, one per line, each as FILE:LINE: path: message.
func TestCheckPrintsEveryError(t *testing.T) {
	dir := filepath.Join("..", "config", "testdata", "errors", "several-errors")
	want, err := os.ReadFile(filepath.Join(dir, "expected.txt"))
	if err != nil {
		t.Fatal(err)
	}
	_, _, errs := runCanary(t, nil, "check", "-c", filepath.Join(dir, "config.yaml"))
	// Files are named as the command line gave them (relative to here);
	// expected.txt names them relative to the config's folder.
	errs = strings.ReplaceAll(errs, dir+string(filepath.Separator), "")
	wantLines := strings.Split(strings.TrimSpace(string(want)), "\n")
	gotLines := strings.Split(strings.TrimSpace(errs), "\n")
	if len(gotLines) != len(wantLines) {
		t.Fatalf("canary check printed %d lines, want %d:\n%s", len(gotLines), len(wantLines), errs)
	}
	for i := range wantLines {
		if gotLines[i] != wantLines[i] {
			t.Errorf("line %d: %q, want suffix of %q", i+1, gotLines[i], wantLines[i])
		}
	}
}

// go run . demo --for 40s is the README's first command: it must finish by
// itself and prove that the platform received every record.
func TestDemoDeliversEverything(t *testing.T) {
	if testing.Short() {
		t.Skip("demo: skipped with -short")
	}
	code, out, errs := runCanary(t, nil, "demo", "--for", "40s")
	if code != 0 {
		t.Fatalf("demo exit %d\n%s\n%s", code, tail(out, 3000), errs)
	}
	for _, want := range []string{"(backfill)", "received all but 0"} {
		if !strings.Contains(out, want) {
			t.Errorf("demo output lacks %q:\n%s", want, tail(out, 3000))
		}
	}
	// GT-103 peaks at 33 %LEL: level 1 (h, 25) once up and once down; never
	// level 2 (hh, 50), no other alarm line, no alarm delivered twice.
	for _, want := range []string{"ALARM ACTIVE GT-103 level h:", "ALARM CLEARED GT-103 level h:"} {
		if n := strings.Count(out, want); n != 1 {
			t.Errorf("%q printed %d times, want exactly 1:\n%s", want, n, tail(out, 3000))
		}
	}
	if n := strings.Count(out, "ALARM "); n != 2 {
		t.Errorf("%d alarm lines, want exactly 2 (GT-103 level h active, then cleared):\n%s", n, tail(out, 3000))
	}
}

func TestMain(m *testing.M) { harness.Main(m) }

func tail(s string, n int) string {
	if len(s) > n {
		return "…" + s[len(s)-n:]
	}
	return s
}
