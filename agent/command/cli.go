package command

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"time"
)

// CLICommand is a subcommand (`canary command sign`, `canary command keygen`).
type CLICommand struct {
	Summary string
	Run     func(ctx context.Context, args []string, stdout, stderr io.Writer) int
}

// CLI returns the command-line tools by name.
func CLI() map[string]CLICommand {
	return map[string]CLICommand{
		"keygen": {Summary: "make a command-signing key pair", Run: runKeygen},
		"sign":   {Summary: "sign a command for P/cmd (for tests and platform integrators)", Run: runSign},
	}
}

func runKeygen(_ context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("canary command keygen", flag.ContinueOnError)
	fs.SetOutput(stderr)
	out := fs.String("out", "", "write the private key to this file (0600); the public key goes to stdout")
	if err := fs.Parse(args); err != nil || fs.NArg() > 0 || *out == "" {
		fmt.Fprintln(stderr, "usage: canary command keygen --out FILE")
		return 2
	}
	pub, priv, err := ed25519.GenerateKey(rand.Reader)
	if err == nil {
		err = WriteFileAtomic(*out, []byte(FormatPrivateKey(priv)), 0o600)
	}
	if err != nil {
		fmt.Fprintln(stderr, "canary command keygen:", err)
		return 1
	}
	fmt.Fprintf(stdout, "# add to platform.commands.public_keys (key id %s):\n%s\n", KeyID(pub), FormatPublicKey(pub))
	return 0
}

func runSign(_ context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("canary command sign", flag.ContinueOnError)
	fs.SetOutput(stderr)
	keyFile := fs.String("key", "", "private key file from `canary command keygen`")
	target := fs.String("target", "", "site/gateway the command is for")
	name := fs.String("cmd", "", "command: ping, status, config.get, config.apply, restart, log.level")
	argsJSON := fs.String("args", "", "arguments as a JSON object")
	argsFile := fs.String("config-file", "", "config.apply: read the YAML from this file into args.config")
	ttl := fs.Duration("ttl", 5*time.Minute, "validity from now")
	if err := fs.Parse(args); err != nil || fs.NArg() > 0 || *keyFile == "" || *target == "" || *name == "" {
		fmt.Fprintln(stderr, "usage: canary command sign --key FILE --target SITE/GATEWAY --cmd NAME [--args JSON] [--config-file FILE] [--ttl 5m]")
		return 2
	}
	out, err := signFromFlags(*keyFile, *target, *name, *argsJSON, *argsFile, *ttl)
	if err != nil {
		fmt.Fprintln(stderr, "canary command sign:", err)
		return 1
	}
	fmt.Fprintf(stdout, "%s\n", out)
	return 0
}

func signFromFlags(keyFile, target, name, argsJSON, argsFile string, ttl time.Duration) ([]byte, error) {
	kb, err := os.ReadFile(keyFile)
	if err != nil {
		return nil, err
	}
	priv, err := ParsePrivateKey(string(kb))
	if err != nil {
		return nil, err
	}
	var raw json.RawMessage
	switch {
	case argsFile != "":
		y, err := os.ReadFile(argsFile)
		if err != nil {
			return nil, err
		}
		raw, _ = json.Marshal(map[string]string{"config": string(y)})
	case argsJSON != "":
		if !json.Valid([]byte(argsJSON)) {
			return nil, fmt.Errorf("--args is not valid JSON")
		}
		raw = json.RawMessage(argsJSON)
	}
	return SignCommand(priv, NewCommand(target, name, raw, time.Now(), ttl))
}
