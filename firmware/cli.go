package firmware

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// Defaults of the CLI.
const (
	DefaultDir  = "/var/lib/canary/firmware"
	DefaultKeys = "/etc/canary/firmware-keys"
)

// Command is one `canary firmware …` subcommand; main.go registers them
// with the agent's CLI.
type Command struct {
	Summary string
	Run     func(ctx context.Context, args []string, stdout, stderr io.Writer) int
}

// CLI holds what the commands need from the binary.
type CLI struct {
	Version string // of the binary running the command
}

// Commands by name: keygen, sign, verify, install, boot, status.
func (c CLI) Commands() map[string]Command {
	return map[string]Command{
		"keygen":  {"create a signing key (private file 0600, prints ed25519:<base64>)", c.keygen},
		"sign":    {"build a signed bundle from a binary", c.sign},
		"verify":  {"check a bundle against trusted keys and print its manifest", c.verify},
		"install": {"verify a bundle (file or https URL) and install it into the inactive slot", c.install},
		"boot":    {"launcher: start the active slot, supervising a trial (systemd ExecStart)", c.boot},
		"status":  {"print the slots, the active version and pending events", c.status},
	}
}

func flags(name string, stderr io.Writer) *flag.FlagSet {
	fs := flag.NewFlagSet("canary firmware "+name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	return fs
}

func fail(stderr io.Writer, name string, err error) int {
	fmt.Fprintf(stderr, "canary firmware %s: %v\n", name, err)
	return 1
}

func (c CLI) keygen(_ context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flags("keygen", stderr)
	key := fs.String("key", "", "private key file to create (mode 0600); the public key goes to FILE.pub")
	if fs.Parse(args) != nil || *key == "" || fs.NArg() > 0 {
		fmt.Fprintln(stderr, "usage: canary firmware keygen -key FILE")
		return 2
	}
	pub, err := GenerateKey(*key)
	if err != nil {
		return fail(stderr, "keygen", err)
	}
	line := FormatPublicKey(pub) + "\n"
	if err := writeFileAtomic(*key+".pub", []byte(line), 0o644); err != nil {
		return fail(stderr, "keygen", err)
	}
	fmt.Fprint(stdout, line)
	return 0
}

func (c CLI) sign(_ context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flags("sign", stderr)
	key := fs.String("key", "", "private key file")
	in := fs.String("in", "", "the canary binary")
	out := fs.String("out", "", "bundle to write")
	target := fs.String("target", "", "target: linux/armv7, linux/arm64, linux/amd64")
	m := Manifest{}
	fs.StringVar(&m.Version, "version", "", "semantic version of the binary")
	fs.StringVar(&m.MinVersion, "min-version", "", "oldest running version this bundle may replace")
	fs.BoolVar(&m.AllowDowngrade, "allow-downgrade", false, "allow installing over a newer version")
	valid := fs.Duration("valid", 365*24*time.Hour, "how long the bundle may be installed")
	if fs.Parse(args) != nil || *key == "" || *in == "" || *out == "" || *target == "" || m.Version == "" || fs.NArg() > 0 {
		fmt.Fprintln(stderr, "usage: canary firmware sign -key FILE -in BINARY -out BUNDLE -version V -target OS/ARCH [-min-version V] [-allow-downgrade] [-valid DURATION]")
		return 2
	}
	var err error
	if m.Target, err = ParseTarget(*target); err != nil {
		return fail(stderr, "sign", err)
	}
	m.Created = time.Now().UTC().Truncate(time.Second)
	m.Expires = m.Created.Add(*valid)
	got, err := SignFile(*out, *in, m, *key)
	if err != nil {
		return fail(stderr, "sign", err)
	}
	fmt.Fprintf(stdout, "%s: canary %s for %s, %d bytes, sha256 %s\n", *out, got.Version, got.Target, got.Payload.Size, got.Payload.SHA256)
	return 0
}

// SignFile signs the binary at in with the key file and writes the bundle
// to out atomically.
func SignFile(out, in string, m Manifest, keyPath string) (*Manifest, error) {
	key, err := LoadPrivateKey(keyPath)
	if err != nil {
		return nil, err
	}
	tmp := out + ".tmp"
	f, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o644)
	if err != nil {
		return nil, fmt.Errorf("firmware: sign: %w", err)
	}
	defer os.Remove(tmp)
	got, err := Sign(f, in, m, key)
	if err == nil {
		err = syncClose(f)
	} else {
		f.Close()
	}
	if err != nil {
		return nil, err
	}
	return got, renameSync(tmp, out)
}

// ParseTarget reads linux/amd64, linux/arm64 or linux/armv7 (also
// linux/arm/7).
func ParseTarget(s string) (Target, error) {
	parts := strings.Split(s, "/")
	if len(parts) < 2 || len(parts) > 3 || parts[0] == "" || parts[1] == "" {
		return Target{}, fmt.Errorf("firmware: target %q: want OS/ARCH such as linux/armv7", s)
	}
	t := Target{OS: parts[0], Arch: parts[1]}
	if v, ok := strings.CutPrefix(t.Arch, "armv"); ok && len(parts) == 2 {
		t.Arch, parts = "arm", append(parts, v)
	}
	if len(parts) == 3 {
		n, err := strconv.Atoi(parts[2])
		if err != nil || t.Arch != "arm" || n < 5 || n > 7 {
			return Target{}, fmt.Errorf("firmware: target %q: arm variant must be 5, 6 or 7", s)
		}
		t.ARM = n
	}
	if t.Arch == "arm" && t.ARM == 0 {
		return Target{}, fmt.Errorf("firmware: target %q: say armv5, armv6 or armv7", s)
	}
	return t, nil
}

func (c CLI) verify(_ context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flags("verify", stderr)
	keys := fs.String("keys", DefaultKeys, "trusted keys file")
	target := fs.String("target", "", "device target (default: this machine)")
	current := fs.String("current", "", "running version to check against (default: none, any version passes)")
	if fs.Parse(args) != nil || fs.NArg() != 1 {
		fmt.Fprintln(stderr, "usage: canary firmware verify [-keys FILE] [-target OS/ARCH] [-current V] BUNDLE")
		return 2
	}
	pol, err := policyFromFlags(*keys, *target)
	if err != nil {
		return fail(stderr, "verify", err)
	}
	pol.Current = *current
	m, err := VerifyFile(fs.Arg(0), pol)
	if m != nil {
		b, _ := json.MarshalIndent(m, "", "  ")
		fmt.Fprintf(stdout, "%s\n", b)
	}
	if err != nil {
		return fail(stderr, "verify", err)
	}
	fmt.Fprintf(stdout, "%s: ok\n", fs.Arg(0))
	return 0
}

// VerifyFile checks a bundle file completely (signature, policy, payload
// length and hash) without installing it. The manifest is returned when
// it could be read, even if the bundle is refused.
func VerifyFile(path string, pol Policy) (*Manifest, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("firmware: %w", err)
	}
	defer f.Close()
	h, err := ReadHeader(f)
	if err != nil {
		return nil, &RejectError{Err: err}
	}
	if err := pol.Check(h); err != nil {
		return h.Manifest, err
	}
	if err := CopyPayload(io.Discard, f, h.Manifest, nil); err != nil {
		return h.Manifest, &RejectError{Version: h.Manifest.Version, Err: err}
	}
	return h.Manifest, nil
}

func policyFromFlags(keysPath, target string) (Policy, error) {
	keys, err := LoadTrustedKeys(keysPath)
	if err != nil {
		return Policy{}, &RejectError{Err: err}
	}
	pol := Policy{Keys: keys}
	if target != "" {
		if pol.Target, err = ParseTarget(target); err != nil {
			return Policy{}, err
		}
	}
	return pol, nil
}

func (c CLI) install(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flags("install", stderr)
	keys := fs.String("keys", DefaultKeys, "trusted keys file")
	dir := fs.String("dir", DefaultDir, "firmware directory")
	if fs.Parse(args) != nil || fs.NArg() != 1 {
		fmt.Fprintln(stderr, "usage: canary firmware install [-keys FILE] [-dir DIR] BUNDLE|https://…")
		return 2
	}
	in := &Installer{Dir: *dir, BaseVersion: c.Version, Notify: func(e Event) { printEvent(stdout, e) }}
	pol, err := policyFromFlags(*keys, "")
	if err != nil {
		in.reject(store{*dir}, &RejectError{Err: err})
		return fail(stderr, "install", err)
	}
	in.Policy = pol
	src := fs.Arg(0)
	if strings.HasPrefix(src, "https://") {
		if src, err = download(ctx, *dir, src, in.Notify); err != nil {
			return fail(stderr, "install", err)
		}
		defer os.Remove(src)
	}
	m, err := in.InstallFile(ctx, src)
	if err != nil {
		return fail(stderr, "install", err)
	}
	fmt.Fprintf(stdout, "canary %s installed; it runs on trial at the next start (systemctl restart canary)\n", m.Version)
	return 0
}

func download(ctx context.Context, dir, u string, notify Notify) (string, error) {
	if err := (store{dir}).init(); err != nil {
		return "", err
	}
	dst := filepath.Join(dir, "incoming", "bundle.part")
	last := time.Time{}
	d := Downloader{Progress: func(done, total int64) {
		if time.Since(last) > time.Second || done == total {
			last = time.Now()
			notify.send(Event{Kind: Downloading, Done: done, Total: total})
		}
	}}
	return dst, d.Fetch(ctx, u, dst)
}

func printEvent(w io.Writer, e Event) {
	switch e.Kind {
	case Downloading:
		fmt.Fprintf(w, "downloading: %d of %d bytes\n", e.Done, e.Total)
	case Rejected:
		fmt.Fprintf(w, "rejected %s: %s\n", e.Version, e.Reason)
	default:
		fmt.Fprintf(w, "%s %s (from %s)\n", e.Kind, e.Version, e.From)
	}
}

func (c CLI) boot(ctx context.Context, args []string, _, stderr io.Writer) int {
	fs := flags("boot", stderr)
	l := &Launcher{BaseVersion: c.Version, Log: slog.New(slog.NewTextHandler(stderr, nil))}
	fs.StringVar(&l.Dir, "dir", DefaultDir, "firmware directory")
	fs.DurationVar(&l.Window, "window", DefaultWindow, "time a new version has to become healthy")
	fs.IntVar(&l.MaxBoots, "max-boots", DefaultMaxBoots, "trial starts without commit before rollback")
	if fs.Parse(args) != nil || fs.NArg() == 0 {
		fmt.Fprintln(stderr, "usage: canary firmware boot [-dir DIR] [-window D] [-max-boots N] -- run -c FILE")
		return 2
	}
	l.Args = fs.Args()
	code, err := l.Run(ctx)
	if err != nil {
		return fail(stderr, "boot", err)
	}
	return code
}

func (c CLI) status(_ context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flags("status", stderr)
	dir := fs.String("dir", DefaultDir, "firmware directory")
	if fs.Parse(args) != nil || fs.NArg() > 0 {
		fmt.Fprintln(stderr, "usage: canary firmware status [-dir DIR]")
		return 2
	}
	st, err := store{*dir}.load()
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return fail(stderr, "status", err)
	}
	b, _ := json.MarshalIndent(st, "", "  ")
	fmt.Fprintf(stdout, "%s\n", b)
	return 0
}
