package firmware

import (
	"bytes"
	"os"
	"testing"
)

func writeFile(t testing.TB, path, s string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(s), 0o644); err != nil {
		t.Fatal(err)
	}
}

func TestCompareVersions(t *testing.T) {
	order := []string{"0.0.0-dev", "0.9.0", "1.0.0-alpha", "1.0.0-alpha.1", "1.0.0-alpha.beta", "1.0.0-beta.2",
		"1.0.0-beta.11", "1.0.0-rc.1", "1.0.0", "1.0.1", "1.2.0", "1.10.0", "2.0.0"}
	for i := range order {
		for j := range order {
			c, err := compareVersions(order[i], order[j])
			if err != nil {
				t.Fatal(err)
			}
			if want := cmpU(uint64(i), uint64(j)); c != want {
				t.Errorf("compare(%s, %s) = %d, want %d", order[i], order[j], c, want)
			}
		}
	}
	for _, bad := range []string{"", "1", "1.0", "1.0.0.0", "01.0.0", "1.0.x", "1.0.0-", "1.0.0-a..b"} {
		if _, err := parseSemver(bad); err == nil {
			t.Errorf("parseSemver(%q) accepted", bad)
		}
	}
}

func TestParseTarget(t *testing.T) {
	for in, want := range map[string]Target{
		"linux/amd64": {"linux", "amd64", 0}, "linux/arm64": {"linux", "arm64", 0},
		"linux/armv7": {"linux", "arm", 7}, "linux/arm/6": {"linux", "arm", 6},
	} {
		if got, err := ParseTarget(in); err != nil || got != want {
			t.Errorf("ParseTarget(%q) = %v, %v", in, got, err)
		}
	}
	for _, bad := range []string{"linux", "linux/arm", "linux/armv9", "/amd64", "linux/amd64/7"} {
		if _, err := ParseTarget(bad); err == nil {
			t.Errorf("ParseTarget(%q) accepted", bad)
		}
	}
}

func TestSignedBundleRoundTrip(t *testing.T) {
	b := bundle(t, manifest("1.2.3"), payloadFor("1.2.3"), testKey)
	h, payload, err := ParseBundle(b)
	if err != nil {
		t.Fatal(err)
	}
	if err := testPolicy().Check(h); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(payload, payloadFor("1.2.3")) || h.Manifest.Product != Product {
		t.Fatalf("round trip changed the bundle: %+v", h.Manifest)
	}
}
