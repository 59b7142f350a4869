package verdict

import (
	"go/parser"
	"go/token"
	"path/filepath"
	"strings"
	"testing"
)

func TestSeverityRankAndValid(t *testing.T) {
	tests := []struct {
		s     Severity
		rank  int
		valid bool
	}{
		{SeverityOK, 0, true},
		{SeverityWarning, 1, true},
		{SeverityCritical, 2, true},
		{"", 0, false},
		{"fatal", 0, false},
		{"Critical", 0, false},
	}
	for _, tc := range tests {
		if got := tc.s.Rank(); got != tc.rank {
			t.Errorf("%q.Rank() = %d, want %d", tc.s, got, tc.rank)
		}
		if got := tc.s.Valid(); got != tc.valid {
			t.Errorf("%q.Valid() = %t, want %t", tc.s, got, tc.valid)
		}
	}
}

// TestLeaf keeps verdict a leaf: analysis and alerting both import it.
func TestLeaf(t *testing.T) {
	files, err := filepath.Glob("*.go")
	if err != nil {
		t.Fatal(err)
	}
	fset := token.NewFileSet()
	for _, f := range files {
		af, err := parser.ParseFile(fset, f, nil, parser.ImportsOnly)
		if err != nil {
			t.Fatal(err)
		}
		for _, imp := range af.Imports {
			if strings.HasPrefix(strings.Trim(imp.Path.Value, `"`), "github.com/driftwatch/") {
				t.Errorf("%s imports %s; verdict must import nothing of driftwatch", f, imp.Path.Value)
			}
		}
	}
}
