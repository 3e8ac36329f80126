package config

import (
	"flag"
	"os"
	"path/filepath"
	"testing"

	"github.com/google/go-cmp/cmp"
)

var update = flag.Bool("update", false, "rewrite testdata/errors/*/expected.txt from the current output")

// TestErrorCases checks each testdata/errors/<mistake>/config.yaml against
// the exact error lines in expected.txt. Each folder is named after the
// mistake it guards. Run with -update after a deliberate message change and
// read the diff. The texts are a 64-bit binary's, whatever the host
// (TestBufferMaxBytesByWordSize covers the 32-bit limits).
func TestErrorCases(t *testing.T) {
	setWordBits(t, 64)
	dirs, err := filepath.Glob("testdata/errors/*")
	if err != nil || len(dirs) == 0 {
		t.Fatalf("no cases: %v", err)
	}
	for _, dir := range dirs {
		t.Run(filepath.Base(dir), func(t *testing.T) {
			data, err := os.ReadFile(filepath.Join(dir, "config.yaml"))
			if err != nil {
				t.Fatal(err)
			}
			_, err = Parse("config.yaml", data)
			if err == nil {
				t.Fatal("Parse accepted a config with a mistake")
			}
			if _, ok := err.(Errors); !ok {
				t.Fatalf("error is %T, want Errors", err)
			}
			got := err.Error() + "\n"
			want := filepath.Join(dir, "expected.txt")
			if *update {
				if err := os.WriteFile(want, []byte(got), 0o644); err != nil {
					t.Fatal(err)
				}
				return
			}
			exp, err := os.ReadFile(want)
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(string(exp), got); diff != "" {
				t.Errorf("errors (-want +got):\n%s", diff)
			}
		})
	}
}

// TestExamples: every shipped example must pass Parse. Parse does not
// read password_file or TLS files, so the /etc/canary paths need not exist.
func TestExamples(t *testing.T) {
	files, _ := filepath.Glob("examples/*.yaml")
	if len(files) < 2 {
		t.Fatalf("want at least 2 examples, got %v", files)
	}
	for _, f := range files {
		t.Run(filepath.Base(f), func(t *testing.T) {
			data, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := Parse(f, data); err != nil {
				t.Errorf("example does not parse:\n%v", err)
			}
		})
	}
}
