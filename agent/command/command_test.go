package command

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

const target = "site-1/gw-1"

var t0 = time.Date(2026, 11, 29, 8, 0, 0, 0, time.UTC)

type rig struct {
	p     *Processor
	priv  ed25519.PrivateKey
	now   time.Time
	file  string
	seen  []string
	calls int
}

func newRig(t *testing.T) *rig {
	t.Helper()
	pub, priv, _ := ed25519.GenerateKey(rand.Reader)
	r := &rig{priv: priv, now: t0, file: filepath.Join(t.TempDir(), "nonces.json")}
	r.p = r.open(t, FormatPublicKey(pub))
	return r
}

func (r *rig) open(t *testing.T, keys ...string) *Processor {
	t.Helper()
	p, err := New(Options{Keys: keys, Target: target, NonceFile: r.file, Now: func() time.Time { return r.now },
		MaxNonces: 3, Observe: func(_, reason string) { r.seen = append(r.seen, reason) }})
	if err != nil {
		t.Fatal(err)
	}
	p.Handle("ping", func(context.Context, json.RawMessage) (any, error) { r.calls++; return "pong", nil })
	p.Handle("echo", func(_ context.Context, a json.RawMessage) (any, error) {
		var v struct{ N int }
		if err := json.Unmarshal(a, &v); err != nil || v.N == 0 {
			return nil, &Refusal{Reason: ReasonBadArgs, Msg: "want {\"n\": non-zero}"}
		}
		return v.N, nil
	})
	p.Handle("boom", func(context.Context, json.RawMessage) (any, error) { panic("handler bug") })
	return p
}

func (r *rig) cmd(name string) Command {
	c := NewCommand(target, name, nil, r.now, 5*time.Minute)
	return c
}

func (r *rig) sign(t *testing.T, c Command) []byte {
	t.Helper()
	b, err := SignCommand(r.priv, c)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func check(t *testing.T, got Reply, ok bool, reason string) {
	t.Helper()
	if got.OK != ok || got.Reason != reason {
		t.Fatalf("reply %+v, want ok=%v reason=%q", got, ok, reason)
	}
	if !ok && got.Error == "" {
		t.Errorf("refusal %+v has no error text", got)
	}
}

func TestValidCommandRunsOnceAndReplies(t *testing.T) {
	r := newRig(t)
	c := r.cmd("ping")
	got := r.p.Process(context.Background(), r.sign(t, c))
	check(t, got, true, "")
	if got.ID != c.ID || got.Cmd != "ping" || got.Result != "pong" || r.calls != 1 {
		t.Errorf("reply %+v calls %d", got, r.calls)
	}
}

// Each way a message can be wrong gets its own reason; nothing runs.
func TestRefusals(t *testing.T) {
	other, otherPriv, _ := ed25519.GenerateKey(rand.Reader)
	_ = other
	cases := []struct {
		name   string
		raw    func(r *rig, t *testing.T) []byte
		reason string
	}{
		{"malformed JSON", func(*rig, *testing.T) []byte { return []byte(`{"payload": "abc", `) }, ReasonMalformed},
		{"not an object", func(*rig, *testing.T) []byte { return []byte(`[1,2]`) }, ReasonMalformed},
		{"trailing data", func(r *rig, t *testing.T) []byte { return append(r.sign(t, r.cmd("ping")), "{}"...) }, ReasonMalformed},
		{"unknown envelope field", func(*rig, *testing.T) []byte {
			return []byte(`{"payload":"e30=","sig":"AA==","key":"k","extra":1}`)
		}, ReasonMalformed},
		{"oversized", func(*rig, *testing.T) []byte {
			return []byte(`{"payload":"` + strings.Repeat("A", DefaultMaxSize) + `"}`)
		}, ReasonOversized},
		{"unsigned", func(r *rig, t *testing.T) []byte {
			p, _ := json.Marshal(r.cmd("ping"))
			b, _ := json.Marshal(Envelope{Payload: base64.StdEncoding.EncodeToString(p)})
			return b
		}, ReasonUnsigned},
		{"wrong key (not configured)", func(r *rig, t *testing.T) []byte {
			b, _ := SignCommand(otherPriv, r.cmd("ping"))
			return b
		}, ReasonUnknownKey},
		{"forged: payload changed after signing", func(r *rig, t *testing.T) []byte {
			var env Envelope
			_ = json.Unmarshal(r.sign(t, r.cmd("ping")), &env)
			p, _ := json.Marshal(r.cmd("restart"))
			env.Payload = base64.StdEncoding.EncodeToString(p)
			b, _ := json.Marshal(env)
			return b
		}, ReasonBadSignature},
		{"forged: signed by another key claiming a configured key id", func(r *rig, t *testing.T) []byte {
			var env Envelope
			_ = json.Unmarshal(r.sign(t, r.cmd("ping")), &env)
			p, _ := base64.StdEncoding.DecodeString(env.Payload)
			env.Sig = Sign(otherPriv, p).Sig
			b, _ := json.Marshal(env)
			return b
		}, ReasonBadSignature},
		{"signature without the domain prefix", func(r *rig, t *testing.T) []byte {
			p, _ := json.Marshal(r.cmd("ping"))
			env := Sign(r.priv, p)
			env.Sig = base64.StdEncoding.EncodeToString(ed25519.Sign(r.priv, p))
			b, _ := json.Marshal(env)
			return b
		}, ReasonBadSignature},
		{"malformed command inside a good signature", func(r *rig, t *testing.T) []byte {
			b, _ := json.Marshal(Sign(r.priv, []byte(`{"id":"x","cmd":"ping"`)))
			return b
		}, ReasonMalformed},
		{"missing nonce", func(r *rig, t *testing.T) []byte {
			c := r.cmd("ping")
			c.Nonce = ""
			return r.sign(t, c)
		}, ReasonMalformed},
		{"expired", func(r *rig, t *testing.T) []byte {
			c := NewCommand(target, "ping", nil, r.now.Add(-10*time.Minute), 5*time.Minute)
			return r.sign(t, c)
		}, ReasonExpired},
		{"issued in the future", func(r *rig, t *testing.T) []byte {
			return r.sign(t, NewCommand(target, "ping", nil, r.now.Add(10*time.Minute), 5*time.Minute))
		}, ReasonNotYetValid},
		{"ttl too long", func(r *rig, t *testing.T) []byte {
			return r.sign(t, NewCommand(target, "ping", nil, r.now, 48*time.Hour))
		}, ReasonTTLTooLong},
		{"wrong target", func(r *rig, t *testing.T) []byte {
			c := r.cmd("ping")
			c.Target = "site-1/gw-2"
			return r.sign(t, c)
		}, ReasonWrongTarget},
		{"unknown command", func(r *rig, t *testing.T) []byte { return r.sign(t, r.cmd("shell")) }, ReasonUnknownCommand},
		{"bad args", func(r *rig, t *testing.T) []byte {
			c := r.cmd("echo")
			c.Args = json.RawMessage(`{"n":0}`)
			return r.sign(t, c)
		}, ReasonBadArgs},
		{"handler panic", func(r *rig, t *testing.T) []byte { return r.sign(t, r.cmd("boom")) }, ReasonFailed},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := newRig(t)
			got := r.p.Process(context.Background(), tc.raw(r, t))
			check(t, got, false, tc.reason)
			if r.calls != 0 {
				t.Errorf("handler ran %d times", r.calls)
			}
			if len(r.seen) != 1 || r.seen[0] != tc.reason {
				t.Errorf("observed %v, want [%s]", r.seen, tc.reason)
			}
		})
	}
}

// A replay is refused, also by a new Processor (an agent restart) reading
// the same nonce file, until the command has expired anyway.
func TestReplayRefusedAcrossRestart(t *testing.T) {
	r := newRig(t)
	raw := r.sign(t, r.cmd("ping"))
	check(t, r.p.Process(context.Background(), raw), true, "")
	check(t, r.p.Process(context.Background(), raw), false, ReasonReplayed)
	restarted := r.open(t, r.p.o.Keys...)
	check(t, restarted.Process(context.Background(), raw), false, ReasonReplayed)
	r.now = r.now.Add(6 * time.Minute)
	check(t, restarted.Process(context.Background(), raw), false, ReasonExpired)
	if r.calls != 1 {
		t.Errorf("ran %d times", r.calls)
	}
}

// The nonce store is bounded: when full of unexpired nonces it refuses
// rather than forget one; expired nonces make room.
func TestNonceStoreBounded(t *testing.T) {
	r := newRig(t) // MaxNonces 3
	for range 3 {
		check(t, r.p.Process(context.Background(), r.sign(t, r.cmd("ping"))), true, "")
	}
	check(t, r.p.Process(context.Background(), r.sign(t, r.cmd("ping"))), false, ReasonBusy)
	r.now = r.now.Add(6 * time.Minute)
	check(t, r.p.Process(context.Background(), r.sign(t, r.cmd("ping"))), true, "")
}

func TestKeyFilesRoundTrip(t *testing.T) {
	pub, priv, _ := ed25519.GenerateKey(rand.Reader)
	got, err := ParsePrivateKey(FormatPrivateKey(priv))
	if err != nil || !got.Equal(priv) {
		t.Fatalf("private key round trip: %v", err)
	}
	p, err := ParseKey(FormatPublicKey(pub))
	if err != nil || !p.Equal(pub) {
		t.Fatalf("public key round trip: %v", err)
	}
	if _, err := New(Options{}); err == nil {
		t.Error("New without keys: want an error (commands off)")
	}
}

// Whatever arrives, Process answers and does not panic.
func FuzzProcess(f *testing.F) {
	pub, priv, _ := ed25519.GenerateKey(rand.Reader)
	good, _ := SignCommand(priv, NewCommand(target, "ping", nil, t0, time.Minute))
	f.Add(good)
	f.Add([]byte(`{"payload":"","sig":"","key":""}`))
	f.Fuzz(func(t *testing.T, raw []byte) {
		p, err := New(Options{Keys: []string{FormatPublicKey(pub)}, Target: target, Now: func() time.Time { return t0 }})
		if err != nil {
			t.Fatal(err)
		}
		p.Handle("ping", func(context.Context, json.RawMessage) (any, error) { return nil, nil })
		if r := p.Process(context.Background(), raw); !r.OK && r.Reason == "" {
			t.Fatalf("refusal without reason: %+v", r)
		}
	})
}
