package config

import (
	"bytes"
	"crypto/sha256"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
)

// CSV point tables (点表): points_csv lists files, relative to the config
// file, whose rows are points. Columns are named by the header row (UTF-8,
// optional BOM); an empty cell leaves the field unset. Every row names the
// modbus device it belongs to in the `device` column. Rows are appended to
// that device's points and validated exactly like points written in YAML;
// errors name FILE:LINE:COLUMN (COLUMN counts cells, as a spreadsheet
// does).

// csvColumns maps each column to the Point field path it sets.
var csvColumns = map[string]string{
	"id": "id", "unit_id": "unit_id", "table": "table", "address": "address",
	"type": "type", "order": "order", "bit": "bit", "length": "length",
	"scale": "scale", "offset": "offset", "raw_min": "raw_min", "raw_max": "raw_max",
	"eng_min": "eng_min", "eng_max": "eng_max", "unit": "unit", "gas": "gas",
	"deadband": "deadband", "max_interval": "max_interval",
	"ll": "alarms.ll", "l": "alarms.l", "h": "alarms.h", "hh": "alarms.hh",
	"hysteresis": "alarms.hysteresis", "kind": "kind", "of": "of", "invert": "invert",
}

// csvRequired are the columns every point table must have.
var csvRequired = []string{"id", "device", "address"}

// CSVColumns lists the accepted columns in documentation order (meta.*
// columns are accepted besides).
func CSVColumns() []string {
	return []string{"id", "device", "unit_id", "table", "address", "type", "order", "bit", "length",
		"scale", "offset", "raw_min", "raw_max", "eng_min", "eng_max", "unit", "gas", "deadband",
		"max_interval", "ll", "l", "h", "hh", "hysteresis", "kind", "of", "invert"}
}

// maxPointTable bounds a CSV point table (20,000 points of 100 columns
// fit well within it).
const maxPointTable = 32 << 20

// readPointTable reads a regular file of at most maxPointTable bytes, so
// that points_csv naming a device, a FIFO or a huge file cannot hang or
// exhaust `canary check` or the agent.
func readPointTable(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	st, err := f.Stat()
	switch {
	case err != nil:
		return nil, err
	case !st.Mode().IsRegular():
		return nil, fmt.Errorf("%s is not a regular file", path)
	case st.Size() > maxPointTable:
		return nil, fmt.Errorf("%s is larger than %d MiB", path, maxPointTable>>20)
	}
	return io.ReadAll(io.LimitReader(f, maxPointTable+1))
}

// loadPointsCSV reads every points_csv file with read (os.ReadFile) and
// appends its rows to their devices. It folds the tables into Hash and
// clears PointsCSV, so the effective config lists the points inline.
func (c *Config) loadPointsCSV(read func(string) ([]byte, error)) Errors {
	var errs Errors
	h := sha256.New()
	h.Write([]byte(c.Hash))
	for i, name := range c.PointsCSV {
		path := name
		if !filepath.IsAbs(path) {
			path = filepath.Join(filepath.Dir(c.File), name)
		}
		data, err := read(path)
		if err != nil {
			p := indexPath("points_csv", i)
			errs = append(errs, c.pos.errorAt(c.File, p, fmt.Sprintf("cannot read the point table: %v", err)))
			continue
		}
		h.Write(data)
		t := &csvTable{c: c, file: path}
		t.read(data)
		errs = append(errs, t.errs...)
	}
	if len(c.PointsCSV) > 0 {
		c.Hash = fmt.Sprintf("%x", h.Sum(nil))
	}
	c.PointsCSV = nil
	return errs
}

type csvTable struct {
	c      *Config
	file   string
	errs   Errors
	header []string
	device int // column index of device
}

func (t *csvTable) errorf(line, col int, field, format string, args ...any) {
	t.errs = append(t.errs, &Error{File: t.file, Line: line, Column: col, Path: field, Msg: fmt.Sprintf(format, args...)})
}

func (t *csvTable) read(data []byte) {
	data = bytes.TrimPrefix(data, []byte("\ufeff"))
	r := csv.NewReader(bytes.NewReader(data))
	r.ReuseRecord = false
	header, err := r.Read()
	if err != nil {
		t.readError(err, "the header row")
		return
	}
	if !t.columns(header) {
		return
	}
	for {
		rec, err := r.Read()
		if errors.Is(err, io.EOF) {
			return
		}
		line, _ := r.FieldPos(0)
		var pe *csv.ParseError
		if errors.As(err, &pe) && errors.Is(pe.Err, csv.ErrFieldCount) {
			t.errorf(pe.StartLine, 0, "", "the row has %d columns, the header %d", len(rec), len(header))
			continue
		}
		if err != nil {
			t.readError(err, "")
			return
		}
		if blank(rec) {
			continue
		}
		t.row(line, rec)
	}
}

func blank(rec []string) bool {
	for _, s := range rec {
		if strings.TrimSpace(s) != "" {
			return false
		}
	}
	return true
}

func (t *csvTable) readError(err error, what string) {
	var pe *csv.ParseError
	if errors.As(err, &pe) {
		t.errorf(pe.Line, 0, "", "invalid CSV: %v", pe.Err)
		return
	}
	if errors.Is(err, io.EOF) {
		t.errorf(0, 0, "", "the file is empty (want a header row: %s, …)", strings.Join(csvRequired, ", "))
		return
	}
	t.errorf(0, 0, "", "cannot read %s: %v", what, err)
}

// columns checks the header; false when no row can be read.
func (t *csvTable) columns(header []string) bool {
	t.header = header
	seenCol := map[string]int{}
	known := append(CSVColumns(), "meta.")
	ok := true
	for i, h := range header {
		h = strings.TrimSpace(h)
		header[i] = h
		if first, dup := seenCol[h]; dup {
			t.errorf(1, i+1, h, "duplicate column (first is column %d)", first)
			ok = false
			continue
		}
		seenCol[h] = i + 1
		switch _, isField := csvColumns[h]; {
		case isField || h == "device":
		case strings.HasPrefix(h, "meta.") && len(h) > len("meta."):
		case h == "meta.":
			t.errorf(1, i+1, h, "a meta column needs a name, like meta.位号")
			header[i] = ""
		default:
			msg := fmt.Sprintf("unknown column %q (columns are %s, and meta.<name>)", h, strings.Join(CSVColumns(), ", "))
			if s := suggest(h, known); s != "" {
				msg = fmt.Sprintf("unknown column %q (did you mean %q?)", h, s)
			}
			t.errorf(1, i+1, h, "%s", msg)
			header[i] = "" // ignored
		}
	}
	for _, need := range csvRequired {
		if _, ok2 := seenCol[need]; !ok2 {
			t.errorf(1, 0, "", "missing the required column %q", need)
			ok = false
		}
	}
	t.device = seenCol["device"] - 1
	return ok
}

// row decodes one point and appends it to its device.
func (t *csvTable) row(line int, rec []string) {
	dev := strings.TrimSpace(rec[t.device])
	di := slices.IndexFunc(t.c.Devices, func(d Device) bool { return d.ID == dev })
	switch {
	case dev == "":
		t.errorf(line, t.device+1, "device", "required (the id of a modbus device in the config file)")
		return
	case di < 0:
		t.errorf(line, t.device+1, "device", "no device with id %q in the config file", dev)
		return
	case t.c.Devices[di].Driver != "modbus":
		t.errorf(line, t.device+1, "device", "device %q has driver %s; point tables are for modbus devices", dev, t.c.Devices[di].Driver)
		return
	}
	d := &t.c.Devices[di]
	o := &origin{file: t.file, row: line, cols: map[string]int{}, bad: map[string]bool{}}
	var pt Point
	for i, cell := range rec {
		col := t.header[i]
		cell = strings.TrimSpace(cell)
		if col == "" || col == "device" || cell == "" {
			continue
		}
		field := csvColumns[col]
		if strings.HasPrefix(col, "meta.") {
			field = col
		}
		o.cols[field] = i + 1
		if err := setCSV(&pt, field, cell); err != nil {
			o.bad[field] = true
			t.errorf(line, i+1, col, "%v", err)
		}
	}
	path := indexPath(indexPath("devices", di)+".points", len(d.Points))
	t.c.pos.alias[path] = o
	d.Points = append(d.Points, pt)
}

// setCSV sets the field of pt named by a csvColumns path from a cell.
func setCSV(pt *Point, field, s string) error {
	a := &pt.Alarms
	switch field {
	case "id", "table", "type", "order", "unit", "gas", "kind", "of":
		*map[string]*string{"id": &pt.ID, "table": &pt.Table, "type": &pt.Type, "order": &pt.Order,
			"unit": &pt.Unit, "gas": &pt.Gas, "kind": &pt.Kind, "of": &pt.Of}[field] = s
	case "unit_id", "address", "bit", "length":
		n, err := strconv.Atoi(s)
		if err != nil {
			return fmt.Errorf("expected an integer, got %q", s)
		}
		*map[string]*int{"unit_id": &pt.UnitID, "address": &pt.Address, "bit": &pt.Bit, "length": &pt.Length}[field] = n
	case "scale", "offset", "raw_min", "raw_max", "eng_min", "eng_max", "alarms.hysteresis":
		f, err := csvFloat(s)
		*map[string]*float64{"scale": &pt.Scale, "offset": &pt.Offset, "raw_min": &pt.RawMin, "raw_max": &pt.RawMax,
			"eng_min": &pt.EngMin, "eng_max": &pt.EngMax, "alarms.hysteresis": &a.Hysteresis}[field] = f
		return err
	case "deadband", "alarms.ll", "alarms.l", "alarms.h", "alarms.hh":
		f, err := csvFloat(s)
		*map[string]**float64{"deadband": &pt.Deadband, "alarms.ll": &a.LL, "alarms.l": &a.L,
			"alarms.h": &a.H, "alarms.hh": &a.HH}[field] = &f
		return err
	case "max_interval":
		return pt.MaxInterval.set(s)
	case "invert":
		b, err := strconv.ParseBool(s)
		if err != nil {
			return fmt.Errorf("expected true or false, got %q", s)
		}
		pt.Invert = b
	default: // meta.<name>
		if pt.Meta == nil {
			pt.Meta = map[string]string{}
		}
		pt.Meta[strings.TrimPrefix(field, "meta.")] = s
	}
	return nil
}

func csvFloat(s string) (float64, error) {
	f, err := strconv.ParseFloat(s, 64)
	if err != nil || math.IsNaN(f) || math.IsInf(f, 0) {
		return 0, fmt.Errorf("expected a number, got %q", s)
	}
	return f, nil
}
