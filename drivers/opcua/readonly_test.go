package opcua

import (
	"go/ast"
	"go/parser"
	"go/token"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestReadOnly fails if any non-test file of this package or its
// subpackages names an OPC UA Write or Call: Canary is read-only by construction.
func TestReadOnly(t *testing.T) {
	// Every service that changes the server: the client methods and the
	// request types that would let code build one and Send it.
	bannedNames := map[string]bool{
		"Write": true, "WriteRequest": true, "WriteResponse": true, "WriteValue": true,
		"Call": true, "CallRequest": true, "CallMethodRequest": true, "CallResponse": true,
		"AddNodes": true, "AddNodesRequest": true, "AddReferences": true, "AddReferencesRequest": true,
		"DeleteNodes": true, "DeleteNodesRequest": true, "DeleteReferences": true, "DeleteReferencesRequest": true,
		"HistoryUpdate": true, "HistoryUpdateRequest": true, "Send": true,
	}
	banned := func(name string) bool { return bannedNames[name] }
	files := 0
	err := filepath.WalkDir(".", func(path string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() || !strings.HasSuffix(path, ".go") || strings.HasSuffix(path, "_test.go") {
			return err
		}
		files++
		f, err := parser.ParseFile(token.NewFileSet(), path, nil, 0)
		if err != nil {
			return err
		}
		ast.Inspect(f, func(n ast.Node) bool {
			var name string
			switch n := n.(type) {
			case *ast.SelectorExpr:
				name = n.Sel.Name
			case *ast.Ident:
				name = n.Name
			}
			if banned(name) {
				t.Errorf("%s: references %s: the driver must not be able to write", path, name)
			}
			return true
		})
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if files < 5 {
		t.Fatalf("scanned only %d files: is the test running in the package directory?", files)
	}
}
