package modbus

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
// subpackages names a Modbus write: Canary is read-only by construction.
func TestReadOnly(t *testing.T) {
	banned := func(name string) bool {
		// io.Writer (the probe command's output) is the one Write* name
		// that is not a Modbus write; goburrow has no identifier "Writer".
		return strings.HasPrefix(name, "Write") && name != "Writer" || name == "ReadWriteMultipleRegisters" ||
			name == "MaskWriteRegister" || strings.HasPrefix(name, "FuncCodeWrite") ||
			name == "FuncCodeReadWriteMultipleRegisters" || name == "FuncCodeMaskWriteRegister"
	}
	files := 0
	err := filepath.WalkDir(".", func(path string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() || !strings.HasSuffix(path, ".go") || strings.HasSuffix(path, "_test.go") {
			return err
		}
		if filepath.Dir(path) == "modbustest" {
			return nil // the simulated device refuses writes; it must name them to count them
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
