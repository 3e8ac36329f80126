package opcua

import (
	"bytes"
	"context"
	"strings"
	"testing"
	"time"

	"canary/drivers/opcua/opcuatest"
)

func TestProbe(t *testing.T) {
	srv := opcuatest.Start(t, opcuatest.Options{Vars: vars()})
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	probe := func(args ...string) string {
		t.Helper()
		var out, errb bytes.Buffer
		if code := Probe(ctx, append([]string{"--endpoint", srv.URL}, args...), &out, &errb); code != 0 {
			t.Fatalf("probe %v: exit %d: %s", args, code, errb.String())
		}
		t.Logf("probe %v:\n%s", args, out.String())
		return out.String()
	}
	if out := probe(); !strings.Contains(out, "Basic256Sha256") || !strings.Contains(out, Thumbprint(srv.Cert)) {
		t.Errorf("endpoints lack the policy or the thumbprint:\n%s", out)
	}
	if out := probe("--read", "nsu="+opcuatest.NamespaceURI+";s=pt1"); !strings.Contains(out, "1.5") || !strings.Contains(out, "Double") || !strings.Contains(out, "good") {
		t.Errorf("read:\n%s", out)
	}
	if out := probe("--browse", "--depth", "1"); !strings.Contains(out, "Server") {
		t.Errorf("browse:\n%s", out)
	}
	pin := Thumbprint(srv.Cert)
	if out := probe("--mode", "SignAndEncrypt", "--pin", pin, "--read", "i=2259"); !strings.Contains(out, "status") {
		t.Errorf("secure read:\n%s", out)
	}
	var errb bytes.Buffer
	if code := Probe(ctx, []string{"--browse"}, &bytes.Buffer{}, &errb); code != 2 {
		t.Errorf("missing --endpoint: exit %d, want 2", code)
	}
}
