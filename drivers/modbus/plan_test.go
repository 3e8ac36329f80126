package modbus

import (
	"testing"

	"github.com/google/go-cmp/cmp"

	"canary/config"
)

// span is a request as (unit, table, addr, qty, points served).
type span struct {
	Unit   uint8
	Table  table
	Addr   uint16
	Qty    uint16
	Points []int
}

func spans(reqs []request) []span {
	out := make([]span, 0, len(reqs))
	for _, r := range reqs {
		s := span{r.unit, r.table, r.addr, r.qty, nil}
		for _, sl := range r.slots {
			s.Points = append(s.Points, sl.point)
		}
		out = append(out, s)
	}
	return out
}

// checkOffsets asserts every slot's offset points at its point's address.
func checkOffsets(t *testing.T, pts []point, reqs []request) {
	t.Helper()
	for _, r := range reqs {
		for _, sl := range r.slots {
			if int(r.addr)+sl.off != int(pts[sl.point].addr) || sl.off+pts[sl.point].n > int(r.qty) {
				t.Errorf("slot %+v of request at %d+%d misplaced", sl, r.addr, r.qty)
			}
		}
	}
}

func TestPlan(t *testing.T) {
	reg := func(addr int, typ string) config.Point { return config.Point{Address: addr, Type: typ} }
	cases := []struct {
		name   string
		points []config.Point
		maxGap int
		want   []span
	}{
		{"empty", nil, 10, []span{}},
		{"one", []config.Point{reg(7, "")}, 10, []span{{1, tHolding, 7, 1, []int{0}}}},
		{"gap bridged", []config.Point{reg(0, ""), reg(11, "")}, 10,
			[]span{{1, tHolding, 0, 12, []int{0, 1}}}},
		{"gap too wide", []config.Point{reg(0, ""), reg(12, "")}, 10,
			[]span{{1, tHolding, 0, 1, []int{0}}, {1, tHolding, 12, 1, []int{1}}}},
		{"unsorted input", []config.Point{reg(4, "float32"), reg(0, "")}, 0,
			[]span{{1, tHolding, 0, 1, []int{1}}, {1, tHolding, 4, 2, []int{0}}}},
		{"adjacent, no gap allowed", []config.Point{reg(0, "float32"), reg(2, "")}, 0,
			[]span{{1, tHolding, 0, 3, []int{0, 1}}}},
		{"overlapping points", []config.Point{reg(0, "uint32"), reg(1, "")}, 0,
			[]span{{1, tHolding, 0, 2, []int{0, 1}}}},
		{"exactly 125", []config.Point{reg(0, ""), reg(124, "")}, 200,
			[]span{{1, tHolding, 0, 125, []int{0, 1}}}},
		{"126 splits", []config.Point{reg(0, ""), reg(125, "")}, 200,
			[]span{{1, tHolding, 0, 1, []int{0}}, {1, tHolding, 125, 1, []int{1}}}},
		{"point spanning the limit is not split", []config.Point{reg(0, ""), reg(124, "float32")}, 200,
			[]span{{1, tHolding, 0, 1, []int{0}}, {1, tHolding, 124, 2, []int{1}}}},
		{"point ending at the limit joins", []config.Point{reg(0, ""), reg(123, "float32")}, 200,
			[]span{{1, tHolding, 0, 125, []int{0, 1}}}},
		{"address 65535", []config.Point{reg(65534, ""), reg(65535, "")}, 10,
			[]span{{1, tHolding, 65534, 2, []int{0, 1}}}},
		{"tables and units apart", []config.Point{
			{Address: 0, Table: "input"}, {Address: 0}, {Address: 1, UnitID: 2}, {Address: 1, Table: "coil"}}, 10,
			[]span{{1, tCoil, 1, 1, []int{3}}, {1, tInput, 0, 1, []int{0}}, {1, tHolding, 0, 1, []int{1}}, {2, tHolding, 1, 1, []int{2}}}},
		{"2000 bits", []config.Point{{Table: "coil"}, {Table: "coil", Address: 1999}, {Table: "coil", Address: 2000}}, 2000,
			[]span{{1, tCoil, 0, 2000, []int{0, 1}}, {1, tCoil, 2000, 1, []int{2}}}},
		{"long string", []config.Point{reg(0, ""), {Address: 1, Type: "string", Length: 125}}, 10,
			[]span{{1, tHolding, 0, 1, []int{0}}, {1, tHolding, 1, 125, []int{1}}}},
	}
	for _, c := range cases {
		pts := make([]point, len(c.points))
		for i, cp := range c.points {
			pts[i] = mustPoint(t, cp)
		}
		reqs := plan(pts, c.maxGap)
		checkOffsets(t, pts, reqs)
		if diff := cmp.Diff(c.want, spans(reqs)); diff != "" {
			t.Errorf("%s (-want +got):\n%s", c.name, diff)
		}
	}
}
