package firmware

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// The crash child: the test binary re-executed with these variables runs
// one step of an update and blocks at it until the parent SIGKILLs it.
const (
	envCrashStep = "FIRMWARE_CRASH_STEP"
	envCrashDir  = "FIRMWARE_CRASH_DIR"
	envCrashArg  = "FIRMWARE_CRASH_ARG" // bundle path, or URL + " " + CA file
)

func TestMain(m *testing.M) {
	if step := os.Getenv(envCrashStep); step != "" {
		os.Exit(crashChild(Step(step), os.Getenv(envCrashDir), os.Getenv(envCrashArg)))
	}
	os.Exit(m.Run())
}

func crashChild(step Step, dir, arg string) int {
	hook = func(s Step) {
		if s == step {
			fmt.Println("AT", s)
			select {} // the parent kills us here
		}
	}
	var err error
	switch step {
	case StepDownload:
		url, ca, _ := strings.Cut(arg, " ")
		err = Downloader{Client: clientTrusting(ca)}.Fetch(context.Background(), url, filepath.Join(dir, "incoming", "bundle.part"))
	case StepVerify, StepInstall, StepSwitch:
		_, err = installer(dir).InstallFile(context.Background(), arg)
	case StepTrial:
		_, err = (&Launcher{Dir: dir, BaseVersion: "0.9.0", Base: arg}).Run(context.Background())
	case StepCommit:
		st, _ := store{dir}.load()
		err = commit(dir, st.Active)
	}
	fmt.Println("NOT REACHED", step, err)
	return 1
}

// TestCrashAtEveryStep kills an update at each step with SIGKILL. The
// next start must find a complete version, old or new, and the update
// must then finish (or roll back when the trial keeps dying).
func TestCrashAtEveryStep(t *testing.T) {
	srv, caFile := bundleServer(t)
	for _, step := range []Step{StepDownload, StepVerify, StepInstall, StepSwitch, StepTrial, StepCommit} {
		t.Run(string(step), func(t *testing.T) {
			dir, bundlePath, base := crashSetup(t)
			arg := bundlePath
			switch step {
			case StepDownload:
				arg = srv.URL + "/bundle " + caFile
			case StepTrial, StepCommit:
				installFile(t, dir, bundlePath) // 2.0.0 on trial
				arg = base
			}
			killAt(t, step, dir, arg)
			p := nextStart(t, dir, base)
			finishUpdate(t, dir, base, bundlePath, srv.URL+"/bundle", caFile, p)
			if st := assertRunning(t, dir, "2.0.0"); st.Trial {
				t.Fatalf("still on trial: %+v", st)
			}
		})
	}
	t.Run("trial killed on every start rolls back", func(t *testing.T) {
		dir, bundlePath, base := crashSetup(t)
		installFile(t, dir, bundlePath)
		for range DefaultMaxBoots {
			killAt(t, StepTrial, dir, base)
		}
		p := nextStart(t, dir, base)
		if p.Version != "1.0.0" || p.Trial {
			t.Fatalf("after %d dead trial starts the plan is %+v, want 1.0.0 committed", DefaultMaxBoots, p)
		}
		st := assertRunning(t, dir, "1.0.0")
		if last := st.Events[len(st.Events)-1]; last.Kind != RolledBack || last.Version != "2.0.0" {
			t.Fatalf("last event %+v, want rolled_back of 2.0.0", last)
		}
	})
}

func crashSetup(t *testing.T) (dir, bundlePath, base string) {
	dir = t.TempDir()
	installed(t, dir, "1.0.0")
	bundlePath = filepath.Join(t.TempDir(), "canary-2.0.0.fwb")
	if err := os.WriteFile(bundlePath, crashBundle(t), 0o644); err != nil {
		t.Fatal(err)
	}
	base = filepath.Join(t.TempDir(), "canary-base")
	writeFile(t, base, "base binary")
	return dir, bundlePath, base
}

var crashBundleBytes []byte

func crashBundle(t *testing.T) []byte {
	if crashBundleBytes == nil {
		crashBundleBytes = bundle(t, manifest("2.0.0"), payloadFor("2.0.0"), testKey)
	}
	return crashBundleBytes
}

// killAt runs the crash child until it reports the step, then SIGKILLs it.
func killAt(t *testing.T, step Step, dir, arg string) {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), envCrashStep+"="+string(step), envCrashDir+"="+dir, envCrashArg+"="+arg)
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	line, _ := bufio.NewReader(out).ReadString('\n')
	_ = cmd.Process.Signal(syscall.SIGKILL)
	_ = cmd.Wait()
	if strings.TrimSpace(line) != "AT "+string(step) {
		t.Fatalf("child did not reach %s: %q", step, line)
	}
}

// nextStart is what the launcher does at the next start; the plan must
// name a complete binary of the old or the new version.
func nextStart(t *testing.T, dir, base string) Plan {
	t.Helper()
	p, err := (&Launcher{Dir: dir, Base: base, BaseVersion: "0.9.0"}).Next()
	if err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(p.Path)
	if err != nil {
		t.Fatalf("next start has no binary: %+v: %v", p, err)
	}
	if p.Version != "1.0.0" && p.Version != "2.0.0" || !bytes.Equal(b, payloadFor(p.Version)) {
		t.Fatalf("next start runs %+v, %d bytes: not a complete old or new version", p, len(b))
	}
	return p
}

// finishUpdate carries on from plan p: commit a trial, or install again
// (resuming the download first) and commit.
func finishUpdate(t *testing.T, dir, base, bundlePath, url, caFile string, p Plan) {
	t.Helper()
	if !p.Trial {
		assertRunning(t, dir, "1.0.0")
		part := filepath.Join(dir, "incoming", "bundle.part")
		if _, err := os.Stat(part); err == nil {
			if err := (Downloader{Client: clientTrusting(caFile)}).Fetch(context.Background(), url, part); err != nil {
				t.Fatal(err)
			}
			bundlePath = part
		}
		installFile(t, dir, bundlePath)
		p = nextStart(t, dir, base)
	}
	if p.Version != "2.0.0" || !p.Trial {
		t.Fatalf("plan %+v, want 2.0.0 on trial", p)
	}
	if err := commit(dir, p.Slot); err != nil {
		t.Fatal(err)
	}
}

func installFile(t *testing.T, dir, path string) {
	t.Helper()
	if _, err := installer(dir).InstallFile(context.Background(), path); err != nil {
		t.Fatal(err)
	}
}

// bundleServer serves the 2.0.0 bundle over TLS on loopback, with Range.
func bundleServer(t *testing.T) (*httptest.Server, string) {
	b := crashBundle(t)
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.ServeContent(w, r, "bundle", time.Time{}, bytes.NewReader(b))
	}))
	t.Cleanup(srv.Close)
	ca := filepath.Join(t.TempDir(), "ca.pem")
	pemBytes := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srv.Certificate().Raw})
	if err := os.WriteFile(ca, pemBytes, 0o644); err != nil {
		t.Fatal(err)
	}
	return srv, ca
}

func clientTrusting(caFile string) *http.Client {
	pemBytes, _ := os.ReadFile(caFile)
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(pemBytes)
	return &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
}
