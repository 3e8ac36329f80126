package config

import (
	"bytes"
	"compress/flate"
	"fmt"
	"io"
)

// A running agent needs its point lists only while it builds its drivers
// and pipeline; after that, at 10,000 points, they are about 5 MB of heap
// (and half as much again in garbage-collector headroom) on a gateway with
// little RAM. WithoutPoints drops them; WithPoints brings them back when a
// restart, a rollback or `config.get` needs the whole config, by parsing
// again the very bytes Parse read (the file and its point tables, kept
// compressed: a few bytes per point), never the files as they are now.

// source is what Parse read. The copy a config without points keeps is
// DEFLATE-compressed: 10,000 inline points are 659 KB of YAML and 43 KB
// deflated.
type source struct {
	data   []byte
	tables map[string][]byte // points_csv files by path
	packed bool              // data and tables are deflated
}

// record wraps read so that what it returns is kept.
func (s *source) record(read func(string) ([]byte, error)) func(string) ([]byte, error) {
	return func(path string) ([]byte, error) {
		b, err := read(path)
		if err == nil {
			s.tables[path] = b
		}
		return b, err
	}
}

// pack returns s compressed.
func (s *source) pack() *source {
	if s.packed {
		return s
	}
	out := &source{data: deflate(s.data), tables: make(map[string][]byte, len(s.tables)), packed: true}
	for k, b := range s.tables {
		out.tables[k] = deflate(b)
	}
	return out
}

func (s *source) unpack(b []byte) ([]byte, error) {
	if !s.packed {
		return b, nil
	}
	return inflate(b)
}

func (s *source) table(path string) ([]byte, error) {
	b, ok := s.tables[path]
	if !ok {
		return nil, fmt.Errorf("point table %s was not read at load", path)
	}
	return s.unpack(b)
}

func deflate(b []byte) []byte {
	var out bytes.Buffer
	w, _ := flate.NewWriter(&out, flate.BestSpeed) // only a bad level errs
	w.Write(b)                                     // a bytes.Buffer does not fail
	w.Close()
	return bytes.Clone(out.Bytes()) // without the buffer's spare capacity
}

func inflate(b []byte) ([]byte, error) {
	out, err := io.ReadAll(flate.NewReader(bytes.NewReader(b)))
	if err != nil {
		return nil, fmt.Errorf("kept config source: %w", err)
	}
	return out, nil
}

// WithoutPoints returns a copy of c whose devices have no point lists,
// or c itself when it was not parsed from bytes (built in code) and the
// points could not be had again.
func (c *Config) WithoutPoints() *Config {
	if c.src == nil || c.pointless {
		return c
	}
	out := *c
	out.Devices = make([]Device, len(c.Devices))
	for i, d := range c.Devices {
		d.Points = nil
		out.Devices[i] = d
	}
	out.Profiles = nil // expanded into the points at load
	out.src, out.pointless = c.src.pack(), true
	return &out
}

// WithPoints returns c with its point lists: c itself unless they were
// dropped; else a copy of c (secrets and all) with the points parsed
// again from the bytes c was parsed from.
func (c *Config) WithPoints() (*Config, error) {
	if !c.pointless {
		return c, nil
	}
	data, err := c.src.unpack(c.src.data)
	if err != nil {
		return nil, err
	}
	again, err := parse(c.File, data, c.src.table)
	if err != nil {
		return nil, fmt.Errorf("config: parse again for the points: %w", err)
	}
	if again.Hash != c.Hash || len(again.Devices) != len(c.Devices) {
		return nil, fmt.Errorf("config: parsed again, %s is not the config that was loaded", c.File)
	}
	out := *c
	out.Devices = make([]Device, len(c.Devices))
	for i, d := range c.Devices {
		if again.Devices[i].ID != d.ID {
			return nil, fmt.Errorf("config: parsed again, device %d is %s, not %s", i, again.Devices[i].ID, d.ID)
		}
		d.Points = again.Devices[i].Points
		out.Devices[i] = d
	}
	out.Profiles = again.Profiles
	out.pointless = false
	return &out, nil
}
