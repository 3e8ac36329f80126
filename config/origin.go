package config

import (
	"strconv"
	"strings"
)

// origin says where a point that is not written under its own path came
// from, so that errors about it name the line (and column) a user edits:
//
//   - a point expanded from a profile: its fields are looked up first in
//     the device's override (devices[i].overrides.<id>) and then in the
//     profile (profiles.<name>.points[k]); the message names the device;
//   - a point read from a CSV point table: FILE:LINE:COLUMN of the cell.
type origin struct {
	from   []string // profile: field source paths, override first
	note   string   // appended to messages, e.g. "(profile p, device d)"
	device string   // profile: the device it was expanded for

	file string          // CSV: the table's path
	row  int             // CSV: 1-based line of the row
	cols map[string]int  // CSV: field path (type, alarms.h, meta.x) -> 1-based column
	bad  map[string]bool // CSV: fields whose cell did not parse
}

// origin finds the alias covering path and the rest of the path below it
// ("" or ".alarms.h").
func (p *positions) origin(path string) (*origin, string) {
	if p == nil || len(p.alias) == 0 {
		return nil, ""
	}
	for q := path; q != ""; q = parentPath(q) {
		if o, ok := p.alias[q]; ok {
			return o, path[len(q):]
		}
	}
	return nil, ""
}

// source is the path a field was written at, for profile points.
func (o *origin) source(p *positions, rest string) string {
	for _, src := range o.from {
		if _, ok := p.lines[src+rest]; ok {
			return src + rest
		}
	}
	return o.from[len(o.from)-1] + rest
}

func (o *origin) line(p *positions, rest string) int {
	if o.file != "" {
		return o.row
	}
	src := o.source(p, rest)
	for {
		if l, ok := p.lines[src]; ok {
			return l
		}
		if src == "" {
			return 0
		}
		src = parentPath(src)
	}
}

func (o *origin) has(p *positions, rest string) bool {
	if o.file != "" {
		_, ok := o.cols[strings.TrimPrefix(rest, ".")]
		return ok
	}
	_, ok := p.lines[o.source(p, rest)]
	return ok
}

func (o *origin) failed(p *positions, rest string) bool {
	if o.file != "" {
		return o.bad[strings.TrimPrefix(rest, ".")]
	}
	for q := o.source(p, rest); q != ""; q = parentPath(q) {
		if p.bad[q] {
			return true
		}
	}
	return false
}

// column is the column of the field at rest, or of its nearest written
// ancestor (alarms.h -> h; the row's id when nothing closer).
func (o *origin) column(rest string) int {
	f := strings.TrimPrefix(rest, ".")
	for f != "" {
		if c, ok := o.cols[f]; ok {
			return c
		}
		f = parentPath(f)
	}
	return o.cols["id"]
}

// errorAt builds the error for path in the config file, or where the
// point at path came from.
func (p *positions) errorAt(file, path, msg string) *Error {
	if p == nil {
		return &Error{File: file, Path: path, Msg: msg}
	}
	o, rest := p.origin(path)
	switch {
	case o == nil:
		return &Error{File: file, Line: p.line(path), Path: path, Msg: msg}
	case o.file != "":
		return &Error{File: o.file, Line: o.row, Column: o.column(rest), Path: csvField(rest), Msg: msg}
	}
	return &Error{File: file, Line: o.line(p, rest), Path: o.source(p, rest), Msg: msg + " " + o.note}
}

// csvField names a field as its column: alarms.h -> h, "" -> id.
func csvField(rest string) string {
	f := strings.TrimPrefix(rest, ".")
	switch {
	case f == "":
		return "id"
	case strings.HasPrefix(f, "alarms."):
		return strings.TrimPrefix(f, "alarms.")
	}
	return f
}

// where names the place of path for "first at …" messages about cur:
// the file too when one of them is in a CSV point table.
func (p *positions) where(file, path, cur string) string {
	e := p.errorAt(file, path, "")
	o, _ := p.origin(path)
	oc, _ := p.origin(cur)
	switch {
	case e.Column > 0 || e.Line > 0 && oc != nil && oc.file != "":
		return e.File + ":" + strconv.Itoa(e.Line)
	case e.Line > 0 && o != nil && o.device != "":
		return "line " + strconv.Itoa(e.Line) + " for device " + o.device
	case e.Line > 0:
		return "line " + strconv.Itoa(e.Line)
	}
	return path
}
