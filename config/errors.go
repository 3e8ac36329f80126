package config

import (
	"fmt"
	"sort"
	"strings"
)

// Error is one problem in a config file, located by line and field path.
type Error struct {
	File string // as given to Parse or Load
	Line int    // 1-based; 0 when unknown (a config built in code)
	Path string // field path like devices[0].points[2].type; "" for the file itself
	Msg  string
	// Column is the 1-based column of a CSV point table cell; 0 otherwise.
	Column int
}

// Error formats as FILE:LINE: path: msg, leaving out what is unknown.
func (e *Error) Error() string {
	var b strings.Builder
	if e.File != "" {
		b.WriteString(e.File)
		if e.Line > 0 {
			fmt.Fprintf(&b, ":%d", e.Line)
		}
		if e.Line > 0 && e.Column > 0 {
			fmt.Fprintf(&b, ":%d", e.Column)
		}
		b.WriteString(": ")
	} else if e.Line > 0 {
		fmt.Fprintf(&b, "%d: ", e.Line)
	}
	if e.Path != "" {
		b.WriteString(e.Path + ": ")
	}
	b.WriteString(e.Msg)
	return b.String()
}

// Errors is every problem found in one file, in line order. Parse and Load
// return it as their error so a user fixes a file in one pass, not one
// error per run.
type Errors []*Error

// Error joins the errors one per line.
func (es Errors) Error() string {
	lines := make([]string, len(es))
	for i, e := range es {
		lines[i] = e.Error()
	}
	return strings.Join(lines, "\n")
}

// sortByLine orders errors by line, keeping discovery order within a line
// (so a field's errors stay in the order its checks run). Errors in other
// files (CSV point tables) follow the config file's, grouped by file.
func (es Errors) sortByLine() {
	rank := map[string]int{}
	for _, e := range es {
		if _, ok := rank[e.File]; !ok && e.Column == 0 {
			rank[e.File] = len(rank)
		}
	}
	for _, e := range es {
		if _, ok := rank[e.File]; !ok {
			rank[e.File] = len(rank)
		}
	}
	sort.SliceStable(es, func(i, j int) bool {
		if a, b := rank[es[i].File], rank[es[j].File]; a != b {
			return a < b
		}
		if es[i].Line != es[j].Line {
			return es[i].Line < es[j].Line
		}
		return es[i].Column < es[j].Column
	})
}

// positions remembers where each field path was written in the file, so
// validation, which works on the decoded struct, can still name a line.
type positions struct {
	lines map[string]int  // field path -> line of its key (or list item)
	bad   map[string]bool // paths that failed to decode: validation skips them
	// alias locates points that were not written under their own path:
	// expanded from a profile, or read from a CSV point table (origin.go).
	alias map[string]*origin
}

func newPositions() *positions {
	return &positions{lines: map[string]int{}, bad: map[string]bool{}, alias: map[string]*origin{}}
}

// line is the line of path, or of its nearest written ancestor: a missing
// field is reported at its parent's line.
func (p *positions) line(path string) int {
	if p == nil {
		return 0
	}
	if o, rest := p.origin(path); o != nil {
		return o.line(p, rest)
	}
	for {
		if l, ok := p.lines[path]; ok {
			return l
		}
		if path == "" {
			return 0
		}
		path = parentPath(path)
	}
}

// has reports whether the file wrote path (with a non-null value).
func (p *positions) has(path string) bool {
	if p == nil {
		return false
	}
	if o, rest := p.origin(path); o != nil {
		return o.has(p, rest)
	}
	_, ok := p.lines[path]
	return ok
}

func (p *positions) failed(path string) bool {
	if p == nil {
		return false
	}
	if o, rest := p.origin(path); o != nil {
		return o.failed(p, rest)
	}
	return p.bad[path]
}

// parentPath drops the last ".name" or "[i]" of a field path.
func parentPath(path string) string {
	i := strings.LastIndexAny(path, ".[")
	if i < 0 {
		return ""
	}
	return path[:i]
}

func joinPath(parent, name string) string {
	if parent == "" {
		return name
	}
	return parent + "." + name
}

// suggest returns the candidate closest to s within edit distance 2, or "".
func suggest(s string, candidates []string) string {
	best, bestD := "", 3
	for _, c := range candidates {
		if d := editDistance(strings.ToLower(s), strings.ToLower(c)); d < bestD {
			best, bestD = c, d
		}
	}
	return best
}

// editDistance is the Levenshtein distance between a and b, by rune.
func editDistance(a, b string) int {
	ra, rb := []rune(a), []rune(b)
	prev := make([]int, len(rb)+1)
	cur := make([]int, len(rb)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(ra); i++ {
		cur[0] = i
		for j := 1; j <= len(rb); j++ {
			cost := 1
			if ra[i-1] == rb[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(rb)]
}

func indexPath(parent string, i int) string { return fmt.Sprintf("%s[%d]", parent, i) }
