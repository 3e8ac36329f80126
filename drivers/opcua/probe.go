package opcua

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"canary/drivers"

	"github.com/gopcua/opcua"
	"github.com/gopcua/opcua/id"
	"github.com/gopcua/opcua/ua"
)

// ProbeSummary is the usage line of `canary probe opcua`.
const ProbeSummary = "list an OPC UA server's endpoints, browse (--browse [NODE]) or read a node (--read NODE); read-only"

const probeUsage = `usage: canary probe opcua --endpoint opc.tcp://HOST:PORT [options]

  (no action)        list endpoints: security mode, policy, user tokens and
                     the server certificate's SHA-256 (for server_cert_sha256)
  --browse [NODE]    walk the address space from NODE (default i=85, Objects)
  --read NODE        print value, type, status, source and server timestamps

options:
  --mode None|Sign|SignAndEncrypt   (default None)
  --policy NAME                     (default Basic256Sha256 when mode is not None)
  --pin SHA256                      server certificate thumbprint (required unless mode None)
  --state-dir DIR                   where the client certificate is kept (default: a temporary one)
  --depth N                         browse depth, 1..10 (default 3)
  --max-nodes N                     stop browsing after N nodes (default 1000)
  --timeout D                       per request (default 5s)
`

type probeArgs struct {
	endpoint, browse, read, mode, policy, pin, stateDir string
	depth, maxNodes                                     int
	timeout                                             time.Duration
	doBrowse                                            bool
}

// Probe runs `canary probe opcua` and returns the exit code. It only ever
// lists, browses and reads.
func Probe(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	a, err := parseProbe(args, stderr)
	if err != nil {
		fmt.Fprintf(stderr, "canary probe opcua: %v\n\n%s", err, probeUsage)
		return 2
	}
	if err := a.run(ctx, stdout); err != nil {
		fmt.Fprintf(stderr, "canary probe opcua: %v\n", err)
		return 1
	}
	return 0
}

func parseProbe(args []string, stderr io.Writer) (probeArgs, error) {
	var a probeArgs
	// --browse takes an optional node: give it the default when the next
	// word is a flag or absent, so the flag package sees a value.
	var fixed []string
	for i, s := range args {
		fixed = append(fixed, s)
		if (s == "--browse" || s == "-browse") && (i+1 == len(args) || strings.HasPrefix(args[i+1], "-")) {
			fixed = append(fixed, "i=85")
		}
	}
	fs := flag.NewFlagSet("probe opcua", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	fs.StringVar(&a.endpoint, "endpoint", "", "")
	fs.StringVar(&a.browse, "browse", "", "")
	fs.StringVar(&a.read, "read", "", "")
	fs.StringVar(&a.mode, "mode", "None", "")
	fs.StringVar(&a.policy, "policy", "", "")
	fs.StringVar(&a.pin, "pin", "", "")
	fs.StringVar(&a.stateDir, "state-dir", "", "")
	fs.IntVar(&a.depth, "depth", 3, "")
	fs.IntVar(&a.maxNodes, "max-nodes", 1000, "")
	fs.DurationVar(&a.timeout, "timeout", 5*time.Second, "")
	if err := fs.Parse(fixed); err != nil {
		return a, err
	}
	a.doBrowse = a.browse != ""
	switch {
	case fs.NArg() > 0:
		return a, fmt.Errorf("unexpected %q", fs.Arg(0))
	case !strings.HasPrefix(a.endpoint, "opc.tcp://"):
		return a, errors.New("--endpoint opc.tcp://HOST:PORT is required")
	case a.doBrowse && a.read != "":
		return a, errors.New("--browse and --read are exclusive")
	case a.depth < 1 || a.depth > 10:
		return a, errors.New("--depth must be 1..10")
	case a.maxNodes < 1:
		return a, errors.New("--max-nodes must be positive")
	}
	return a, nil
}

func (a probeArgs) run(ctx context.Context, out io.Writer) error {
	if !a.doBrowse && a.read == "" {
		return listEndpoints(ctx, a.endpoint, a.timeout, out)
	}
	dir := a.stateDir
	if dir == "" {
		tmp, err := os.MkdirTemp("", "canary-probe-")
		if err != nil {
			return err
		}
		defer os.RemoveAll(tmp)
		dir = tmp
	}
	mode := ua.MessageSecurityModeFromString(a.mode)
	if mode == ua.MessageSecurityModeInvalid {
		return fmt.Errorf("--mode %q: want None, Sign or SignAndEncrypt", a.mode)
	}
	policy := or(a.policy, "Basic256Sha256")
	if mode == ua.MessageSecurityModeNone {
		policy = "None"
	}
	host, _ := os.Hostname()
	d := &dialer{endpoint: a.endpoint, mode: mode, policy: ua.FormatSecurityPolicyURI(policy), trust: trust{pin: a.pin},
		auth: authConf{kind: "anonymous"}, appURI: "urn:canary:" + or(host, "gateway"), stateDir: dir,
		opts: []opcua.Option{opcua.RequestTimeout(a.timeout), opcua.DialTimeout(a.timeout)}}
	cctx, cancel := context.WithTimeout(ctx, 2*a.timeout)
	c, err := d.dial(cctx, func(opcua.ConnState) {})
	cancel()
	if err != nil {
		return err
	}
	defer c.Close(context.Background())
	if a.read != "" {
		return probeRead(ctx, c, a.read, out)
	}
	return probeBrowse(ctx, c, a, out)
}

func listEndpoints(ctx context.Context, endpoint string, timeout time.Duration, out io.Writer) error {
	ctx, cancel := context.WithTimeout(ctx, 2*timeout)
	defer cancel()
	eps, err := opcua.GetEndpoints(ctx, endpoint, opcua.DialTimeout(timeout), opcua.RequestTimeout(timeout))
	if err != nil {
		return fmt.Errorf("%s: get endpoints: %w", endpoint, err)
	}
	for _, ep := range eps {
		var toks []string
		for _, t := range ep.UserIdentityTokens {
			toks = append(toks, strings.TrimPrefix(t.TokenType.String(), "UserTokenType"))
		}
		fmt.Fprintf(out, "%s\n  mode     %s\n  policy   %s\n  level    %d\n  users    %s\n",
			ep.EndpointURL, strings.TrimPrefix(ep.SecurityMode.String(), "MessageSecurityMode"),
			policyName(ep.SecurityPolicyURI), ep.SecurityLevel, strings.Join(toks, ", "))
		if len(ep.ServerCertificate) > 0 {
			fmt.Fprintf(out, "  server_cert_sha256: %s\n", Thumbprint(ep.ServerCertificate))
		}
	}
	return nil
}

func probeRead(ctx context.Context, c conn, node string, out io.Writer) error {
	ref, err := parseNode(node)
	if err != nil {
		return err
	}
	var nsa []string
	if ref.uri != "" {
		if nsa, err = c.NamespaceArray(ctx); err != nil {
			return err
		}
	}
	nid, err := ref.resolve(nsa)
	if err != nil {
		return err
	}
	res, err := c.Read(ctx, &ua.ReadRequest{TimestampsToReturn: ua.TimestampsToReturnBoth,
		NodesToRead: []*ua.ReadValueID{{NodeID: nid, AttributeID: ua.AttributeIDValue}}})
	if err != nil {
		return err
	}
	if len(res.Results) != 1 {
		return fmt.Errorf("read %s: %d results", nid, len(res.Results))
	}
	dv := res.Results[0]
	q, why := classify(dv.Status)
	typ, val := "-", "-"
	if dv.Value != nil {
		typ, val = strings.TrimPrefix(dv.Value.Type().String(), "TypeID"), fmt.Sprint(dv.Value.Value())
	}
	quality := q.String()
	if why != drivers.ReasonNone {
		quality += "/" + why.String()
	}
	fmt.Fprintf(out, "node      %s\nvalue     %s\ntype      %s\nstatus    0x%08X %s\nsource    %s\nserver    %s\n",
		nid, val, typ, uint32(dv.Status), quality, stamp(dv.SourceTimestamp), stamp(dv.ServerTimestamp))
	return nil
}

func stamp(t time.Time) string {
	if t.IsZero() {
		return "-"
	}
	return t.UTC().Format(time.RFC3339Nano)
}

// probeBrowse walks hierarchical references depth-first, bounded by depth
// and node count.
func probeBrowse(ctx context.Context, c conn, a probeArgs, out io.Writer) error {
	root, err := ua.ParseNodeID(a.browse)
	if err != nil {
		return err
	}
	n := 0
	seen := map[string]bool{}
	var walk func(nid *ua.NodeID, depth int) error
	walk = func(nid *ua.NodeID, depth int) error {
		if depth > a.depth || n >= a.maxNodes || seen[nid.String()] {
			return nil
		}
		seen[nid.String()] = true
		res, err := c.Browse(ctx, &ua.BrowseRequest{NodesToBrowse: []*ua.BrowseDescription{{
			NodeID: nid, BrowseDirection: ua.BrowseDirectionForward, IncludeSubtypes: true,
			ReferenceTypeID: ua.NewNumericNodeID(0, id.HierarchicalReferences), ResultMask: uint32(ua.BrowseResultMaskAll),
		}}})
		if err != nil {
			return err
		}
		if len(res.Results) == 0 {
			return nil
		}
		for _, r := range res.Results[0].References {
			if n >= a.maxNodes {
				fmt.Fprintf(out, "… stopped at --max-nodes %d\n", a.maxNodes)
				return nil
			}
			n++
			name := ""
			if r.BrowseName != nil {
				name = r.BrowseName.Name
			}
			fmt.Fprintf(out, "%s%-40s %-10s %s\n", strings.Repeat("  ", depth-1), r.NodeID.NodeID, strings.TrimPrefix(r.NodeClass.String(), "NodeClass"), name)
			if err := walk(r.NodeID.NodeID, depth+1); err != nil {
				return err
			}
		}
		return nil
	}
	return walk(root, 1)
}
