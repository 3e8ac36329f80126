package config

import (
	"os"
	"path/filepath"
	"testing"
)

// FuzzParse: no input makes Parse panic, and it either returns a config or
// a non-empty Errors whose every entry names the file.
func FuzzParse(f *testing.F) {
	seeds, _ := filepath.Glob("testdata/errors/*/config.yaml")
	examples, _ := filepath.Glob("examples/*.yaml")
	for _, p := range append(seeds, examples...) {
		if data, err := os.ReadFile(p); err == nil {
			f.Add(data)
		}
	}
	f.Add([]byte("a: &a [*a]"))
	f.Add([]byte("version: 1\nsite: &s {id: x, gateway: y}\nx: [*s, *s, *s]\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		if len(data) > 64<<10 {
			t.Skip("bounded input")
		}
		c, err := Parse("f.yaml", data)
		if err == nil {
			if c == nil {
				t.Fatal("nil config and nil error")
			}
			return
		}
		errs, ok := err.(Errors)
		if !ok || len(errs) == 0 {
			t.Fatalf("error %T %v, want non-empty Errors", err, err)
		}
		for _, e := range errs {
			if e.File != "f.yaml" {
				t.Fatalf("error without file: %v", e)
			}
		}
	})
}
