package config

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"regexp"
	"strconv"
	"strings"

	"gopkg.in/yaml.v3"
)

// EnvPassword names the environment variable that carries the MQTT
// password. When set and non-empty it wins over password_file (the
// twelve-factor convention: the environment overrides the file), and the
// file is then not read at all.
const EnvPassword = "CANARY_MQTT_PASSWORD"

// Load reads, parses and validates the file at path, then loads secrets:
// the MQTT password from $CANARY_MQTT_PASSWORD or else from password_file
// (one trailing newline trimmed). A password_file that cannot be read is
// an error at its line. The error, unless the file cannot be read at all,
// is Errors.
func Load(path string) (*Config, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("config: %w", err)
	}
	c, err := Parse(path, data)
	if err != nil {
		return nil, err
	}
	if errs := c.loadSecrets(os.Getenv); len(errs) > 0 {
		return nil, errs
	}
	return c, nil
}

// Parse decodes, defaults, validates and resolves a config from data; file
// names it in errors. It reads no other file than the CSV point tables
// of points_csv (relative to file) and makes no network call, so secrets
// are not loaded (Load does that) and a password_file need not exist.
// The error, when not nil, is Errors listing every problem found, in line
// order.
func Parse(file string, data []byte) (*Config, error) {
	src := &source{data: data, tables: map[string][]byte{}}
	c, err := parse(file, data, src.record(readPointTable))
	if err != nil {
		return nil, err
	}
	c.src = src
	return c, nil
}

func parse(file string, data []byte, readTable func(string) ([]byte, error)) (*Config, error) {
	root, errs := parseYAML(file, data)
	if root == nil {
		return nil, errs
	}
	d := &decoder{file: file, pos: newPositions(), errs: errs}
	if !d.version(root) {
		d.errs.sortByLine()
		return nil, d.errs
	}
	c := Default()
	c.File, c.Hash, c.pos = file, hashOf(data), d.pos
	d.pos.lines[""] = root.Line
	d.decode(root, reflectValue(&c), "")
	d.errs = append(d.errs, c.expandProfiles()...)
	d.errs = append(d.errs, c.loadPointsCSV(readTable)...)
	c.ApplyDefaults()
	errs = append(d.errs, c.Validate()...)
	if len(errs) > 0 {
		errs.sortByLine()
		return nil, errs
	}
	c.resolve()
	c.warnings, c.pwLine = c.Warnings(), c.pos.line(passwordFilePath)
	c.pos = nil
	return &c, nil
}

const passwordFilePath = "platform.mqtt.password_file"

func hashOf(data []byte) string {
	sum := sha256.Sum256(data)
	return hex.EncodeToString(sum[:])
}

// parseYAML returns the root mapping of the only document in data, or nil
// and the errors that make the file unreadable. A trailing document is an
// error but does not stop the first from being checked.
func parseYAML(file string, data []byte) (*yaml.Node, Errors) {
	fileErr := func(line int, format string, args ...any) Errors {
		return Errors{{File: file, Line: line, Msg: fmt.Sprintf(format, args...)}}
	}
	dec := yaml.NewDecoder(bytes.NewReader(data))
	var doc yaml.Node
	switch err := safeDecode(dec, &doc); {
	case errors.Is(err, io.EOF):
		return nil, fileErr(0, "the file is empty (want at least version: 1)")
	case err != nil:
		return nil, Errors{syntaxError(file, err)}
	}
	var errs Errors
	var next yaml.Node
	if err := safeDecode(dec, &next); !errors.Is(err, io.EOF) {
		line := next.Line
		if err != nil {
			line = syntaxError(file, err).Line
		}
		errs = fileErr(line, "only one YAML document is allowed; found another after the first")
	}
	if len(doc.Content) == 0 || isNull(doc.Content[0]) {
		return nil, append(fileErr(0, "the file is empty (want at least version: 1)"), errs...)
	}
	root := doc.Content[0]
	if root.Kind != yaml.MappingNode {
		return nil, append(fileErr(root.Line, "expected a mapping of settings (version: 1, site: ...), got %s", describe(root)), errs...)
	}
	return root, errs
}

// safeDecode turns a panic inside the YAML library into an error: a bad
// file must never crash the agent or `canary check`.
func safeDecode(dec *yaml.Decoder, n *yaml.Node) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("yaml: cannot parse: %v", r)
		}
	}()
	return dec.Decode(n)
}

var yamlLine = regexp.MustCompile(`^yaml: (?:line (\d+): )?(.*)$`)

// syntaxError locates a yaml.v3 error. yaml.v3 v3.0.1 reports scanner
// errors with 1-based lines but parser errors ("did not find expected
// key") with the 0-based line of the enclosing block, and leaves the line
// out when that is 0; this turns both into 1-based lines.
func syntaxError(file string, err error) *Error {
	m := yamlLine.FindStringSubmatch(err.Error())
	if m == nil {
		return &Error{File: file, Msg: "invalid YAML: " + err.Error()}
	}
	line, _ := strconv.Atoi(m[1])
	if isParserProblem(m[2]) {
		line++
	}
	return &Error{File: file, Line: line, Msg: "invalid YAML: " + m[2]}
}

func isParserProblem(msg string) bool {
	for _, p := range []string{"did not find expected", "found duplicate %", "found incompatible YAML", "found undefined tag"} {
		if strings.HasPrefix(msg, p) {
			return true
		}
	}
	return false
}

// version checks `version` first: a file for another version may have
// another shape, so reporting its fields against version 1 would only
// mislead. A missing version is reported and checking goes on.
func (d *decoder) version(root *yaml.Node) bool {
	for i := 0; i+1 < len(root.Content); i += 2 {
		if root.Content[i].Value != "version" {
			continue
		}
		v := d.follow(root.Content[i+1])
		if v == nil || isNull(v) {
			break
		}
		if v.Kind == yaml.ScalarNode && v.Tag == "!!int" && v.Value == "1" {
			return true
		}
		shown := describe(v)
		if v.Tag == "!!int" {
			shown = v.Value
		}
		d.errorf(root.Content[i].Line, "version", "unsupported version %s (this agent reads version 1)", shown)
		return false
	}
	d.errorf(root.Line, "version", "required (this agent reads version 1)")
	return true
}

// loadSecrets reads the MQTT password; getenv is os.Getenv outside tests.
func (c *Config) loadSecrets(getenv func(string) string) Errors {
	m := &c.Platform.MQTT
	if v := getenv(EnvPassword); v != "" {
		m.Password = Secret(v)
		return nil
	}
	if m.PasswordFile == "" {
		return nil
	}
	fail := func(format string, args ...any) Errors {
		line := c.pwLine
		if c.pos != nil {
			line = c.pos.line(passwordFilePath)
		}
		return Errors{{File: c.File, Line: line, Path: passwordFilePath, Msg: fmt.Sprintf(format, args...)}}
	}
	data, err := os.ReadFile(m.PasswordFile)
	if err != nil {
		return fail("cannot read the password: %v", err)
	}
	pw := strings.TrimSuffix(strings.TrimSuffix(string(data), "\n"), "\r")
	if pw == "" {
		return fail("%s is empty", m.PasswordFile)
	}
	m.Password = Secret(pw)
	return nil
}

// Redacted is the effective config as YAML, defaults and derived values
// included, for `canary config get` and support bundles. Secrets are never
// in it: Password is not a YAML field, and Secret marshals as "[redacted]".
func (c *Config) Redacted() ([]byte, error) {
	c, err := c.WithPoints()
	if err != nil {
		return nil, err
	}
	var b bytes.Buffer
	enc := yaml.NewEncoder(&b)
	enc.SetIndent(2)
	if err := enc.Encode(c); err != nil {
		return nil, fmt.Errorf("config: %w", err)
	}
	if err := enc.Close(); err != nil {
		return nil, fmt.Errorf("config: %w", err)
	}
	return b.Bytes(), nil
}
