package firmware

import (
	"bytes"
	"context"
	"errors"
	"net/http"
	"os"
	"path/filepath"
	"testing"
)

func TestDownloadResumesWithRange(t *testing.T) {
	srv, ca := bundleServer(t)
	var ranges []string
	inner := srv.Config.Handler
	srv.Config.Handler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ranges = append(ranges, r.Header.Get("Range"))
		inner.ServeHTTP(w, r)
	})
	want := crashBundle(t)
	dst := filepath.Join(t.TempDir(), "bundle.part")
	writeFile(t, dst, string(want[:1000])) // an earlier, interrupted download
	var last int64
	d := Downloader{Client: clientTrusting(ca), Progress: func(done, total int64) {
		if total != int64(len(want)) || done < last {
			t.Errorf("progress %d/%d after %d", done, total, last)
		}
		last = done
	}}
	if err := d.Fetch(context.Background(), srv.URL, dst); err != nil {
		t.Fatal(err)
	}
	got, _ := os.ReadFile(dst)
	if !bytes.Equal(got, want) || len(ranges) != 1 || ranges[0] != "bytes=1000-" {
		t.Fatalf("got %d bytes (want %d), ranges %q", len(got), len(want), ranges)
	}
	// Complete already: a 416 with the same total is success.
	if err := d.Fetch(context.Background(), srv.URL, dst); err != nil {
		t.Fatal(err)
	}
}

func TestDownloadRefusals(t *testing.T) {
	srv, ca := bundleServer(t)
	dst := filepath.Join(t.TempDir(), "bundle.part")
	d := Downloader{Client: clientTrusting(ca), MaxBytes: 1000}
	if err := d.Fetch(context.Background(), srv.URL, dst); !errors.Is(err, ErrTooLarge) {
		t.Fatalf("over the limit: err = %v", err)
	}
	if err := (Downloader{}).Fetch(context.Background(), "http"+srv.URL[5:], dst); err == nil {
		t.Fatal("plain http accepted")
	}
	if err := (Downloader{}).Fetch(context.Background(), srv.URL, dst); err == nil {
		t.Fatal("an untrusted server certificate was accepted")
	}
}
