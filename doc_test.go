package querylens_test

import (
	"go/parser"
	"go/token"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestEveryPackageHasDoc requires a doc.go with a package comment in every
// library package (commands, package main, document themselves in main.go).
func TestEveryPackageHasDoc(t *testing.T) {
	dirs := map[string]bool{}
	err := filepath.WalkDir(".", func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && (strings.HasPrefix(d.Name(), ".") && path != "." || d.Name() == "testdata") {
			return filepath.SkipDir
		}
		if !d.IsDir() && strings.HasSuffix(path, ".go") && !strings.HasSuffix(path, "_test.go") {
			// Commands (package main) document themselves in main.go.
			f, err := parser.ParseFile(token.NewFileSet(), path, nil, parser.PackageClauseOnly)
			if err != nil {
				return err
			}
			if f.Name.Name != "main" {
				dirs[filepath.Dir(path)] = true
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	for dir := range dirs {
		if strings.HasPrefix(dir, "cmd"+string(filepath.Separator)) || dir == "internal/testdb" {
			continue
		}
		t.Run(dir, func(t *testing.T) {
			path := filepath.Join(dir, "doc.go")
			if _, err := os.Stat(path); err != nil {
				t.Fatalf("%s has no doc.go", dir)
			}
			f, err := parser.ParseFile(token.NewFileSet(), path, nil, parser.PackageClauseOnly|parser.ParseComments)
			if err != nil {
				t.Fatal(err)
			}
			if f.Doc == nil || !strings.HasPrefix(f.Doc.Text(), "Package "+f.Name.Name+" ") {
				t.Errorf("%s: the package comment must start with %q", path, "Package "+f.Name.Name)
			}
		})
	}
}
