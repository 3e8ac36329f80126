package modbus

import (
	"cmp"
	"slices"
	"time"
)

// request is one read: a contiguous span of one table of one unit, and the
// points it serves.
type request struct {
	unit  uint8
	table table
	addr  uint16
	qty   uint16 // registers, or bits in a bit table
	slots []slot
	// timeout is the device's reply timeout (0: the connection's).
	timeout time.Duration
}

// slot is a point served by a request: its index in the device's points and
// its offset (registers or bits) from the request's start.
type slot struct {
	point int
	off   int
}

// plan merges points into as few requests as the protocol allows: per
// (unit, table), sorted by address, a request grows while it stays within
// the table's quantity limit and the hole it must bridge is at most maxGap
// unused registers or bits. A point is never split across requests.
func plan(points []point, maxGap int) []request {
	idx := make([]int, len(points))
	for i := range idx {
		idx[i] = i
	}
	slices.SortStableFunc(idx, func(a, b int) int {
		pa, pb := &points[a], &points[b]
		return cmp.Or(cmp.Compare(pa.unit, pb.unit), cmp.Compare(pa.table, pb.table),
			cmp.Compare(pa.addr, pb.addr), cmp.Compare(pb.n, pa.n))
	})
	var out []request
	end := 0 // exclusive end of the last request, as an int so 65536 fits
	for _, i := range idx {
		p := &points[i]
		if len(out) == 0 || !fits(&out[len(out)-1], end, p, maxGap) {
			out = append(out, request{unit: p.unit, table: p.table, addr: p.addr})
			end = int(p.addr)
		}
		r := &out[len(out)-1]
		end = max(end, int(p.addr)+p.n)
		r.qty = uint16(end - int(r.addr))
		r.slots = append(r.slots, slot{point: i, off: int(p.addr - r.addr)})
	}
	return out
}

// fits reports whether p can join r, whose span ends (exclusive) at end.
func fits(r *request, end int, p *point, maxGap int) bool {
	if r.unit != p.unit || r.table != p.table {
		return false
	}
	if int(p.addr)-end > maxGap {
		return false
	}
	return max(end, int(p.addr)+p.n)-int(r.addr) <= p.table.maxQty()
}
