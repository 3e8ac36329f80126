package command

import (
	"bytes"
	"context"
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"
)

// keygen then sign produce a command the agent accepts with the printed
// public key.
func TestCLIKeygenSign(t *testing.T) {
	dir := t.TempDir()
	key := filepath.Join(dir, "cmd.key")
	var out, errb bytes.Buffer
	if code := CLI()["keygen"].Run(context.Background(), []string{"--out", key}, &out, &errb); code != 0 {
		t.Fatalf("keygen: %d %s", code, errb.String())
	}
	var pub string
	for _, l := range strings.Split(out.String(), "\n") {
		if strings.HasPrefix(l, "ed25519:") {
			pub = l
		}
	}
	out.Reset()
	args := []string{"--key", key, "--target", "s/g", "--cmd", "log.level", "--args", `{"level":"debug"}`, "--ttl", "1m"}
	if code := CLI()["sign"].Run(context.Background(), args, &out, &errb); code != 0 {
		t.Fatalf("sign: %d %s", code, errb.String())
	}
	p, err := New(Options{Keys: []string{pub}, Target: "s/g"})
	if err != nil {
		t.Fatal(err)
	}
	var got json.RawMessage
	p.Handle("log.level", func(_ context.Context, a json.RawMessage) (any, error) { got = a; return nil, nil })
	if r := p.Process(context.Background(), bytes.TrimSpace(out.Bytes())); !r.OK || string(got) != `{"level":"debug"}` {
		t.Fatalf("reply %+v args %s", r, got)
	}
	if code := CLI()["sign"].Run(context.Background(), []string{"--key", key}, &out, &errb); code != 2 {
		t.Errorf("sign without --cmd: exit %d, want 2", code)
	}
}
