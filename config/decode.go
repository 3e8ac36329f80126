package config

import (
	"fmt"
	"math"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"sync"

	"gopkg.in/yaml.v3"
)

// The decoder walks the yaml.Node tree against the Go types by their yaml
// tags, rather than using yaml.Unmarshal, so that it can report every
// unknown key, duplicate key and wrong type with its line and keep going,
// and record where each field was written for validation.

// maxNodes bounds the work an alias-heavy file ("billion laughs") can cause.
const maxNodes = 100_000

type decoder struct {
	file   string
	pos    *positions
	errs   Errors
	nodes  int
	driver string // of the device being decoded: selects reserved keys
}

func (d *decoder) errorf(line int, path, format string, args ...any) {
	d.errs = append(d.errs, &Error{File: d.file, Line: line, Path: path, Msg: fmt.Sprintf(format, args...)})
}

// fail reports a value that could not be decoded and marks its path so
// validation does not add a second, confusing error about it.
func (d *decoder) fail(n *yaml.Node, path, format string, args ...any) {
	d.pos.bad[path] = true
	d.errorf(n.Line, path, format, args...)
}

// follow resolves aliases and counts nodes; nil means the budget is spent.
func (d *decoder) follow(n *yaml.Node) *yaml.Node {
	for hops := 0; n != nil && n.Kind == yaml.AliasNode && hops < 100; hops++ {
		n = n.Alias
	}
	if n == nil || n.Kind == yaml.AliasNode {
		return nil
	}
	if d.nodes++; d.nodes == maxNodes {
		d.errorf(n.Line, "", "the file expands to more than %d values (aliases?); refusing to read it", maxNodes)
	}
	if d.nodes >= maxNodes {
		return nil
	}
	return n
}

func isNull(n *yaml.Node) bool {
	return n.Kind == yaml.ScalarNode && n.Tag == "!!null" || n.Kind == 0
}

// decode sets v from n. A null value leaves v as it is (its default).
func (d *decoder) decode(n *yaml.Node, v reflect.Value, path string) {
	if n = d.follow(n); n == nil || isNull(n) {
		return
	}
	if s, ok := v.Addr().Interface().(scalarSetter); ok {
		d.scalar(n, s, path)
		return
	}
	switch v.Kind() {
	case reflect.Struct:
		d.structure(n, v, path)
	case reflect.Slice:
		d.list(n, v, path)
	case reflect.Map:
		d.dict(n, v, path)
	case reflect.Pointer:
		p := reflect.New(v.Type().Elem())
		if d.decode(n, p.Elem(), path); !d.pos.bad[path] {
			v.Set(p)
		}
	default:
		d.basic(n, v, path)
	}
}

func (d *decoder) scalar(n *yaml.Node, s scalarSetter, path string) {
	if n.Kind != yaml.ScalarNode {
		d.fail(n, path, "expected a single value, got %s", describe(n))
		return
	}
	if err := s.set(n.Value); err != nil {
		d.fail(n, path, "%s", err)
	}
}

func (d *decoder) basic(n *yaml.Node, v reflect.Value, path string) {
	if n.Kind != yaml.ScalarNode {
		d.fail(n, path, "expected %s, got %s", kindName(v.Kind()), describe(n))
		return
	}
	var err error
	switch v.Kind() {
	case reflect.String:
		v.SetString(n.Value)
	case reflect.Int:
		err = decodeInt(n, v)
	case reflect.Float64:
		err = decodeFloat(n, v)
	case reflect.Bool:
		err = decodeBool(n, v)
	default:
		err = fmt.Errorf("cannot decode into %s", v.Type()) // a types.go field this file does not know
	}
	if err != nil {
		d.fail(n, path, "%s", err)
	}
}

func decodeInt(n *yaml.Node, v reflect.Value) error {
	var i int64
	if n.Tag != "!!int" || n.Decode(&i) != nil {
		return fmt.Errorf("expected an integer, got %q", n.Value)
	}
	if i < math.MinInt || i > math.MaxInt {
		return fmt.Errorf("integer %s is out of range", n.Value)
	}
	v.SetInt(i)
	return nil
}

func decodeFloat(n *yaml.Node, v reflect.Value) error {
	var f float64
	if (n.Tag != "!!int" && n.Tag != "!!float") || n.Decode(&f) != nil {
		return fmt.Errorf("expected a number, got %q", n.Value)
	}
	if math.IsNaN(f) || math.IsInf(f, 0) {
		return fmt.Errorf("expected a finite number, got %q", n.Value)
	}
	v.SetFloat(f)
	return nil
}

func decodeBool(n *yaml.Node, v reflect.Value) error {
	var b bool
	if n.Tag != "!!bool" || n.Decode(&b) != nil {
		return fmt.Errorf("expected true or false, got %q", n.Value)
	}
	v.SetBool(b)
	return nil
}

func kindName(k reflect.Kind) string {
	switch k {
	case reflect.String:
		return "a string"
	case reflect.Int:
		return "an integer"
	case reflect.Float64:
		return "a number"
	case reflect.Bool:
		return "true or false"
	}
	return k.String()
}

func describe(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "a mapping"
	case yaml.SequenceNode:
		return "a list"
	}
	return strconv.Quote(n.Value)
}

func (d *decoder) list(n *yaml.Node, v reflect.Value, path string) {
	if n.Kind != yaml.SequenceNode {
		d.fail(n, path, "expected a list, got %s", describe(n))
		return
	}
	s := reflect.MakeSlice(v.Type(), len(n.Content), len(n.Content))
	for i, item := range n.Content {
		child := indexPath(path, i)
		d.pos.lines[child] = item.Line
		d.decode(item, s.Index(i), child)
	}
	v.Set(s)
}

// dict decodes a map[string]string (point meta).
func (d *decoder) dict(n *yaml.Node, v reflect.Value, path string) {
	if n.Kind != yaml.MappingNode {
		d.fail(n, path, "expected a mapping, got %s", describe(n))
		return
	}
	m := reflect.MakeMap(v.Type())
	d.pairs(n, path, func(k, val *yaml.Node, child string) {
		e := reflect.New(v.Type().Elem()).Elem()
		d.decode(val, e, child)
		m.SetMapIndex(reflect.ValueOf(k.Value), e)
	})
	v.Set(m)
}

// pairs calls fn for each key of a mapping, reporting keys that are not
// plain scalars, merge keys and duplicates.
func (d *decoder) pairs(n *yaml.Node, path string, fn func(k, v *yaml.Node, child string)) {
	seen := map[string]int{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, val := d.follow(n.Content[i]), n.Content[i+1]
		switch {
		case k == nil:
			return
		case k.Kind != yaml.ScalarNode:
			d.errorf(k.Line, path, "keys must be plain names, got %s", describe(k))
			continue
		case k.Tag == "!!merge":
			d.errorf(k.Line, path, "merge keys (<<) are not supported; write the settings out")
			continue
		}
		child := joinPath(path, k.Value)
		if first, dup := seen[k.Value]; dup {
			d.errorf(k.Line, path, "duplicate key %q (first at line %d)", k.Value, first)
			continue
		}
		seen[k.Value] = k.Line
		if !isNull(val) {
			d.pos.lines[child] = k.Line
		}
		fn(k, val, child)
	}
}

func (d *decoder) structure(n *yaml.Node, v reflect.Value, path string) {
	if n.Kind != yaml.MappingNode {
		d.fail(n, path, "expected a mapping, got %s", describe(n))
		return
	}
	t := v.Type()
	if t == reflect.TypeFor[Device]() {
		d.driver = peek(n, "driver")
	}
	fields := fieldsOf(t)
	d.pairs(n, path, func(k, val *yaml.Node, child string) {
		if i, ok := fields.index[k.Value]; ok {
			d.decode(val, v.Field(i), child)
		} else if !d.reserved(t, k.Value) {
			d.unknown(k, path, fields.names)
		}
	})
}

func (d *decoder) unknown(k *yaml.Node, path string, known []string) {
	msg := fmt.Sprintf("unknown field %q", k.Value)
	if isSecretKey(k.Value) {
		msg += ": secrets are not allowed in the config file; use password_file or the CANARY_MQTT_PASSWORD environment variable"
	} else if s := suggest(k.Value, known); s != "" {
		msg += fmt.Sprintf(" (did you mean %q?)", s)
	}
	d.errorf(k.Line, path, "%s", msg)
}

func isSecretKey(key string) bool {
	key = strings.ToLower(key)
	for _, w := range []string{"password", "passwd", "secret", "token"} {
		if key == w || strings.HasSuffix(key, "_"+w) || strings.HasPrefix(key, w+"_") && !strings.HasSuffix(key, "_file") {
			return true
		}
	}
	return false
}

// Keys of drivers a later version adds. They are accepted (and ignored) so
// that such a file reports one clear "not supported" error instead of a
// screenful of unknown fields.
var reservedKeys = map[string]map[reflect.Type][]string{
	"gpio": {
		reflect.TypeFor[Device](): {"chip"},
		reflect.TypeFor[Point]():  {"pin", "pull", "debounce", "max_bypass"},
	},
}

func (d *decoder) reserved(t reflect.Type, key string) bool {
	return slices.Contains(reservedKeys[d.driver][t], key)
}

// peek returns the plain scalar value of key in mapping n, or "".
func peek(n *yaml.Node, key string) string {
	for i := 0; i+1 < len(n.Content); i += 2 {
		if n.Content[i].Value == key && n.Content[i+1].Kind == yaml.ScalarNode {
			return n.Content[i+1].Value
		}
	}
	return ""
}

type structFields struct {
	index map[string]int // yaml name -> field index
	names []string       // yaml names, for suggestions
}

var fieldCache sync.Map // reflect.Type -> structFields

// fieldsOf lists the yaml-named exported fields of t; `yaml:"-"` fields
// (File, Hash, Password) cannot be set from a file.
func fieldsOf(t reflect.Type) structFields {
	if f, ok := fieldCache.Load(t); ok {
		return f.(structFields)
	}
	f := structFields{index: map[string]int{}}
	for i := range t.NumField() {
		sf := t.Field(i)
		name, _, _ := strings.Cut(sf.Tag.Get("yaml"), ",")
		if !sf.IsExported() || name == "-" || name == "" {
			continue
		}
		f.index[name] = i
		f.names = append(f.names, name)
	}
	fieldCache.Store(t, f)
	return f
}

func reflectValue(c *Config) reflect.Value { return reflect.ValueOf(c).Elem() }
