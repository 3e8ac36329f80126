package firmware

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// fakeAgent builds testdata/fakeagent with its version and behaviour
// stamped; the build cache makes all but the first cheap.
func fakeAgent(t *testing.T, version, mode string) string {
	t.Helper()
	out := filepath.Join(t.TempDir(), "canary")
	cmd := exec.Command("go", "build", "-trimpath", "-o", out,
		"-ldflags", "-s -w -X main.version="+version+" -X main.mode="+mode, "./testdata/fakeagent")
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build fakeagent: %v\n%s", err, b)
	}
	return out
}

// realSetup: base binary 1.0.0 (commits), and a signed bundle of the new
// version with the given behaviour, installed and on trial.
func realSetup(t *testing.T, mode string) (*Launcher, string, *[]Plan) {
	t.Helper()
	dir := t.TempDir()
	logPath := filepath.Join(dir, "ran.log")
	t.Setenv("FAKE_LOG", logPath)
	var execs []Plan
	l := &Launcher{Dir: dir, Base: fakeAgent(t, "1.0.0", "commit"), BaseVersion: "1.0.0",
		Window: 2 * time.Second, Grace: time.Second, Poll: 20 * time.Millisecond, MaxBoots: 2,
		Args: []string{"run", "-c", "/etc/canary/canary.yaml"}}
	// Exec runs the binary as a child instead of replacing the test.
	l.Exec = func(path string, argv, env []string) error {
		execs = append(execs, Plan{Path: path})
		cmd := exec.Command(path, argv[1:]...)
		cmd.Env = env
		return cmd.Run()
	}
	m := manifest("2.0.0")
	m.Target = Host()
	in := &Installer{Dir: dir, BaseVersion: "1.0.0", Policy: testPolicy()}
	in.Policy.Target = Host()
	if _, err := in.InstallFile(context.Background(), signFile(t, fakeAgent(t, "2.0.0", mode), m)); err != nil {
		t.Fatal(err)
	}
	return l, logPath, &execs
}

func signFile(t *testing.T, bin string, m Manifest) string {
	t.Helper()
	out := filepath.Join(t.TempDir(), "bundle.fwb")
	f, err := os.Create(out)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := Sign(f, bin, m, testKey); err != nil {
		t.Fatal(err)
	}
	return out
}

func runLog(t *testing.T, logPath string) string {
	b, _ := os.ReadFile(logPath)
	return strings.TrimSpace(string(b))
}

func TestTrialNeverHealthyRollsBackWithinWindow(t *testing.T) {
	l, logPath, execs := realSetup(t, "hang")
	start := time.Now()
	if _, err := l.Run(context.Background()); err != nil {
		t.Fatal(err)
	}
	took := time.Since(start)
	want := "2.0.0 hang a trial=true\n1.0.0 commit  trial=false"
	if got := runLog(t, logPath); got != want {
		t.Fatalf("ran:\n%s\nwant:\n%s", got, want)
	}
	if len(*execs) != 1 || (*execs)[0].Path != l.Base {
		t.Fatalf("after rollback exec'd %+v, want the base binary", *execs)
	}
	if limit := l.Window + l.Grace + 2*time.Second; took > limit {
		t.Fatalf("rollback took %s, window %s", took, l.Window)
	}
	st, _ := store{l.Dir}.load()
	if st.Active != SlotBase || st.Trial || st.Events[len(st.Events)-1].Kind != RolledBack {
		t.Fatalf("state after rollback: %+v", st)
	}
}

func TestTrialCrashingVersionRollsBackAfterMaxBoots(t *testing.T) {
	l, logPath, _ := realSetup(t, "crash")
	if _, err := l.Run(context.Background()); err != nil {
		t.Fatal(err)
	}
	want := "2.0.0 crash a trial=true\n2.0.0 crash a trial=true\n1.0.0 commit  trial=false"
	if got := runLog(t, logPath); got != want {
		t.Fatalf("ran:\n%s\nwant:\n%s", got, want)
	}
	evs, _ := takeEvents(l.Dir)
	var kinds []string
	for _, e := range evs {
		kinds = append(kinds, string(e.Kind))
	}
	if got := strings.Join(kinds, " "); got != "installed trial trial rolled_back" {
		t.Fatalf("events %q", got)
	}
}

func TestTrialHealthyVersionCommits(t *testing.T) {
	l, logPath, execs := realSetup(t, "commit")
	if code, err := l.Run(context.Background()); err != nil || code != 0 {
		t.Fatalf("code %d, err %v", code, err)
	}
	if got := runLog(t, logPath); got != "2.0.0 commit a trial=true" {
		t.Fatalf("ran %q", got)
	}
	if len(*execs) != 0 {
		t.Fatalf("exec'd %+v after a commit", *execs)
	}
	st, _ := store{l.Dir}.load()
	if st.Active != SlotA || st.Trial {
		t.Fatalf("state %+v, want slot a committed", st)
	}
	// The next start execs the committed version directly.
	if _, err := l.Run(context.Background()); err != nil {
		t.Fatal(err)
	}
	if len(*execs) != 1 || (*execs)[0].Path != (store{l.Dir}).binary(SlotA) {
		t.Fatalf("exec'd %+v, want slot a", *execs)
	}
}
