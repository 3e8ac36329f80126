package command

import (
	"crypto/ed25519"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"
)

// Sign signs the exact payload bytes and returns the envelope.
func Sign(priv ed25519.PrivateKey, payload []byte) Envelope {
	pub := priv.Public().(ed25519.PublicKey)
	return Envelope{
		Payload: base64.StdEncoding.EncodeToString(payload),
		Sig:     base64.StdEncoding.EncodeToString(ed25519.Sign(priv, signed(payload))),
		Key:     KeyID(pub),
	}
}

// NewCommand fills a command valid from now for ttl with a random id and
// nonce.
func NewCommand(target, cmd string, args json.RawMessage, now time.Time, ttl time.Duration) Command {
	return Command{ID: randomHex(8), Target: target, Cmd: cmd, Args: args,
		IssuedAt: now.UnixMilli(), ExpiresAt: now.Add(ttl).UnixMilli(), Nonce: randomHex(16)}
}

// SignCommand marshals c and signs it; the result is what goes on P/cmd.
func SignCommand(priv ed25519.PrivateKey, c Command) ([]byte, error) {
	payload, err := json.Marshal(c)
	if err != nil {
		return nil, fmt.Errorf("command: %w", err)
	}
	return json.Marshal(Sign(priv, payload))
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// Private key file format: "ed25519-private:<base64 of the 32-byte seed>".
const privPrefix = "ed25519-private:"

// FormatPrivateKey is the key file content for priv.
func FormatPrivateKey(priv ed25519.PrivateKey) string {
	return privPrefix + base64.StdEncoding.EncodeToString(priv.Seed()) + "\n"
}

// FormatPublicKey is the platform.commands.public_keys entry for pub.
func FormatPublicKey(pub ed25519.PublicKey) string {
	return "ed25519:" + base64.StdEncoding.EncodeToString(pub)
}

// ParsePrivateKey reads a key file's content.
func ParsePrivateKey(s string) (ed25519.PrivateKey, error) {
	b64, ok := strings.CutPrefix(strings.TrimSpace(s), privPrefix)
	seed, err := base64.StdEncoding.DecodeString(b64)
	if !ok || err != nil || len(seed) != ed25519.SeedSize {
		return nil, errors.New("command: private key: expected " + privPrefix + "<base64 of a 32-byte seed>")
	}
	return ed25519.NewKeyFromSeed(seed), nil
}
