package opcua

import (
	"fmt"
	"slices"
	"strings"

	"github.com/gopcua/opcua/ua"
)

// nodeRef is a configured node id. When the config names the namespace by
// URI (nsu=…) the index is looked up in the server's namespace array after
// every connect, so a server that renumbers its namespaces keeps working.
type nodeRef struct {
	raw  string
	uri  string     // "" when the config gave ns=N or nothing
	rest string     // with uri: the identifier part (i=…, s=…, g=…, b=…)
	id   *ua.NodeID // namespace index 0 when uri is set
}

func parseNode(s string) (nodeRef, error) {
	r := nodeRef{raw: s}
	rest := s
	if after, ok := strings.CutPrefix(s, "nsu="); ok {
		uri, id, ok := strings.Cut(after, ";")
		if !ok || uri == "" {
			return r, fmt.Errorf("node %q: want nsu=URI;<id>", s)
		}
		r.uri, r.rest, rest = uri, id, id
	}
	id, err := ua.ParseNodeID(rest)
	if err != nil {
		return r, fmt.Errorf("node %q: %w", s, err)
	}
	if r.uri != "" && id.Namespace() != 0 {
		return r, fmt.Errorf("node %q: both nsu= and ns=", s)
	}
	r.id = id
	return r, nil
}

// resolve returns the node id to send, given the server's namespace array.
func (r nodeRef) resolve(namespaces []string) (*ua.NodeID, error) {
	if r.uri == "" {
		return r.id, nil
	}
	i := slices.Index(namespaces, r.uri)
	if i < 0 {
		return nil, fmt.Errorf("node %q: the server has no namespace %q", r.raw, r.uri)
	}
	id, err := ua.ParseNodeID(fmt.Sprintf("ns=%d;%s", i, r.rest))
	if err != nil {
		return nil, fmt.Errorf("node %q: %w", r.raw, err)
	}
	return id, nil
}
