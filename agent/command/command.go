package command

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"sync"
	"time"
)

// Domain is prepended to the payload before signing.
const Domain = "canary/cmd/v1\x00"

// Defaults of Options.
const (
	DefaultMaxSize   = 64 << 10
	DefaultSkew      = 2 * time.Minute
	DefaultMaxTTL    = time.Hour
	DefaultMaxNonces = 10000
)

// Reasons a command is refused, as sent in Reply.Reason.
const (
	ReasonOversized      = "oversized"
	ReasonMalformed      = "malformed"
	ReasonUnsigned       = "unsigned"
	ReasonUnknownKey     = "unknown_key"
	ReasonBadSignature   = "bad_signature"
	ReasonWrongTarget    = "wrong_target"
	ReasonExpired        = "expired"
	ReasonNotYetValid    = "not_yet_valid"
	ReasonTTLTooLong     = "ttl_too_long"
	ReasonReplayed       = "replayed"
	ReasonBusy           = "busy"
	ReasonUnknownCommand = "unknown_command"
	ReasonBadArgs        = "bad_args"
	ReasonFailed         = "failed"
)

// Envelope carries a signed command.
type Envelope struct {
	Payload string `json:"payload"` // base64 (standard) of the command JSON
	Sig     string `json:"sig"`     // base64 of the Ed25519 signature of Domain+payload
	Key     string `json:"key"`     // KeyID of the signing key
}

// Command is the signed content.
type Command struct {
	ID        string          `json:"id"`
	Target    string          `json:"target"` // "site/gateway"
	Cmd       string          `json:"cmd"`
	Args      json.RawMessage `json:"args,omitempty"`
	IssuedAt  int64           `json:"issued_at"`  // Unix ms
	ExpiresAt int64           `json:"expires_at"` // Unix ms
	Nonce     string          `json:"nonce"`
}

// Reply is published on P/cmd/reply for every message on P/cmd.
type Reply struct {
	ID     string `json:"id"` // "" when the command could not be read
	Cmd    string `json:"cmd,omitempty"`
	OK     bool   `json:"ok"`
	Reason string `json:"reason,omitempty"` // set when not OK
	Error  string `json:"error,omitempty"`
	Result any    `json:"result,omitempty"`
	TS     int64  `json:"ts"`
}

// Refusal is an error with a Reason; a Handler returns one (ReasonBadArgs)
// for arguments it cannot use. Other errors become ReasonFailed.
type Refusal struct {
	Reason, Msg string
}

func (r *Refusal) Error() string { return "command: " + r.Reason + ": " + r.Msg }

func refuse(reason, format string, args ...any) *Refusal {
	return &Refusal{Reason: reason, Msg: fmt.Sprintf(format, args...)}
}

// Handler runs one accepted command.
type Handler func(ctx context.Context, args json.RawMessage) (any, error)

// Options configure a Processor.
type Options struct {
	Keys      []string // "ed25519:<base64>", as in platform.commands.public_keys
	Target    string   // "site/gateway" of this agent
	NonceFile string   // "" keeps nonces in memory only (a restart reopens replays)
	Now       func() time.Time
	Log       *slog.Logger
	MaxSize   int           // bytes of the envelope; default 64 KiB
	Skew      time.Duration // tolerated clock difference for issued_at; default 2m
	MaxTTL    time.Duration // expires_at - issued_at at most; default 1h
	MaxNonces int           // default 10000
	// Observe, when set, is told the outcome of every message
	// (reason "" = accepted) for metrics and health.
	Observe func(cmd, reason string)
}

// Processor verifies and runs commands. It is safe for concurrent use;
// commands run one at a time.
type Processor struct {
	o        Options
	keys     map[string]ed25519.PublicKey
	handlers map[string]Handler
	nonces   *nonceStore
	runMu    sync.Mutex
}

// ParseKey reads "ed25519:<base64>".
func ParseKey(s string) (ed25519.PublicKey, error) {
	b64, ok := bytes.CutPrefix([]byte(s), []byte("ed25519:"))
	raw, err := base64.StdEncoding.DecodeString(string(b64))
	if !ok || err != nil || len(raw) != ed25519.PublicKeySize {
		return nil, errors.New("command: key: expected ed25519:<base64 of 32 bytes>")
	}
	return ed25519.PublicKey(raw), nil
}

// KeyID names a public key: the first 8 bytes of its SHA-256, in hex.
func KeyID(pub ed25519.PublicKey) string {
	sum := sha256.Sum256(pub)
	return hex.EncodeToString(sum[:8])
}

// New builds a Processor; it loads the nonce file if there is one.
func New(o Options) (*Processor, error) {
	if len(o.Keys) == 0 {
		return nil, errors.New("command: no public keys: commands are off")
	}
	o.MaxSize = orInt(o.MaxSize, DefaultMaxSize)
	o.MaxNonces = orInt(o.MaxNonces, DefaultMaxNonces)
	o.Skew = orDur(o.Skew, DefaultSkew)
	o.MaxTTL = orDur(o.MaxTTL, DefaultMaxTTL)
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Log == nil {
		o.Log = slog.New(slog.DiscardHandler)
	}
	p := &Processor{o: o, keys: map[string]ed25519.PublicKey{}, handlers: map[string]Handler{}}
	for _, k := range o.Keys {
		pub, err := ParseKey(k)
		if err != nil {
			return nil, err
		}
		p.keys[KeyID(pub)] = pub
	}
	var err error
	p.nonces, err = openNonces(o.NonceFile, o.MaxNonces, o.Now())
	if err != nil {
		o.Log.Error("command nonce file unreadable; starting empty", "err", err)
	}
	return p, nil
}

func orInt(v, def int) int {
	if v <= 0 {
		return def
	}
	return v
}

func orDur(v, def time.Duration) time.Duration {
	if v <= 0 {
		return def
	}
	return v
}

// Handle registers the handler of a command name.
func (p *Processor) Handle(name string, h Handler) { p.handlers[name] = h }

// Process verifies raw and, when it is a valid command, runs it. It never
// panics, whatever raw holds (a handler's panic is a failed command).
func (p *Processor) Process(ctx context.Context, raw []byte) (r Reply) {
	var c *Command
	defer func() {
		if v := recover(); v != nil {
			r = p.reply(c, refuse(ReasonFailed, "panic: %v", v), nil)
		}
		p.report(r)
	}()
	c, err := p.Verify(raw)
	if err != nil {
		return p.reply(c, err, nil)
	}
	p.runMu.Lock()
	defer p.runMu.Unlock()
	res, err := p.handlers[c.Cmd](ctx, c.Args)
	return p.reply(c, err, res)
}

func (p *Processor) reply(c *Command, err error, res any) Reply {
	r := Reply{OK: err == nil, Result: res, TS: p.o.Now().UnixMilli()}
	if c != nil {
		r.ID, r.Cmd = c.ID, c.Cmd
	}
	if err != nil {
		r.Result = nil
		var rf *Refusal
		if !errors.As(err, &rf) {
			rf = &Refusal{Reason: ReasonFailed, Msg: err.Error()}
		}
		r.Reason, r.Error = rf.Reason, rf.Msg
	}
	return r
}

func (p *Processor) report(r Reply) {
	if r.OK {
		p.o.Log.Info("command accepted", "id", r.ID, "cmd", r.Cmd)
	} else {
		p.o.Log.Warn("command refused", "id", r.ID, "cmd", r.Cmd, "reason", r.Reason, "err", r.Error)
	}
	if p.o.Observe != nil {
		p.o.Observe(r.Cmd, r.Reason)
	}
}

// Verify checks raw completely, records its nonce and returns the
// command. On error the command is returned too when it could be read
// (so the reply can name it).
func (p *Processor) Verify(raw []byte) (*Command, error) {
	if len(raw) > p.o.MaxSize {
		return nil, refuse(ReasonOversized, "%d bytes, limit %d", len(raw), p.o.MaxSize)
	}
	payload, err := p.checkSignature(raw)
	if err != nil {
		return nil, err
	}
	c, err := parseCommand(payload)
	if err != nil {
		return nil, err
	}
	if err := p.checkCommand(c); err != nil {
		return c, err
	}
	if err := p.nonces.use(c.Nonce, time.UnixMilli(c.ExpiresAt), p.o.Now()); err != nil {
		return c, err
	}
	return c, nil
}

func (p *Processor) checkSignature(raw []byte) ([]byte, error) {
	var env Envelope
	if err := strictJSON(raw, &env); err != nil {
		return nil, refuse(ReasonMalformed, "envelope: %v", err)
	}
	if env.Sig == "" || env.Key == "" {
		return nil, refuse(ReasonUnsigned, "envelope has no sig or key")
	}
	payload, err1 := base64.StdEncoding.DecodeString(env.Payload)
	sig, err2 := base64.StdEncoding.DecodeString(env.Sig)
	if err := errors.Join(err1, err2); err != nil || len(payload) == 0 {
		return nil, refuse(ReasonMalformed, "envelope: payload and sig must be non-empty base64")
	}
	pub, ok := p.keys[env.Key]
	if !ok {
		return nil, refuse(ReasonUnknownKey, "key %q is not in platform.commands.public_keys", env.Key)
	}
	if len(sig) != ed25519.SignatureSize || !ed25519.Verify(pub, signed(payload), sig) {
		return nil, refuse(ReasonBadSignature, "signature does not verify with key %s", env.Key)
	}
	return payload, nil
}

func signed(payload []byte) []byte { return append([]byte(Domain), payload...) }

func parseCommand(payload []byte) (*Command, error) {
	var c Command
	if err := strictJSON(payload, &c); err != nil {
		return nil, refuse(ReasonMalformed, "command: %v", err)
	}
	switch {
	case c.ID == "" || len(c.ID) > 128:
		return &c, refuse(ReasonMalformed, "id: required, at most 128 bytes")
	case c.Cmd == "" || c.Target == "":
		return &c, refuse(ReasonMalformed, "cmd and target are required")
	case len(c.Nonce) < 8 || len(c.Nonce) > 128:
		return &c, refuse(ReasonMalformed, "nonce: 8 to 128 bytes")
	case c.IssuedAt <= 0 || c.ExpiresAt <= 0:
		return &c, refuse(ReasonMalformed, "issued_at and expires_at (Unix ms) are required")
	}
	return &c, nil
}

func (p *Processor) checkCommand(c *Command) error {
	now := p.o.Now()
	issued, expires := time.UnixMilli(c.IssuedAt), time.UnixMilli(c.ExpiresAt)
	switch {
	case c.Target != p.o.Target:
		return refuse(ReasonWrongTarget, "for %q, this is %q", c.Target, p.o.Target)
	case expires.Sub(issued) > p.o.MaxTTL || !expires.After(issued):
		return refuse(ReasonTTLTooLong, "expires_at must be after issued_at and within %s of it", p.o.MaxTTL)
	case !now.Before(expires):
		return refuse(ReasonExpired, "expired at %s; agent time %s", fmtMS(expires), fmtMS(now))
	case issued.Sub(now) > p.o.Skew:
		return refuse(ReasonNotYetValid, "issued at %s, in the future beyond %s; agent time %s", fmtMS(issued), p.o.Skew, fmtMS(now))
	}
	if _, ok := p.handlers[c.Cmd]; !ok {
		return refuse(ReasonUnknownCommand, "unknown command %q", c.Cmd)
	}
	return nil
}

func fmtMS(t time.Time) string { return t.UTC().Format("2006-01-02T15:04:05.000Z") }

// strictJSON decodes exactly one JSON object with no unknown fields.
func strictJSON(b []byte, v any) error {
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return err
	}
	if _, err := dec.Token(); err != io.EOF {
		return errors.New("trailing data after the object")
	}
	return nil
}
