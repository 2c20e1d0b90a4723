package main

import (
	"bytes"
	"errors"
	"go/ast"
	"go/parser"
	"go/token"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

func TestMutateChangesOnlyTheOperatorAtTheReportedColumn(t *testing.T) {
	src := "package p\n\nfunc f(a, b int) bool {\n\t// é: a two-byte rune before nothing\n\tx := \"é\" != \"\" && a < b\n\tswitch {\n\tcase a >= b, a-b <= 1:\n\t\ta++\n\t}\n\treturn x || a-1 > -b\n}\n"
	cases := []struct {
		name      string
		line, col int
		typ, want string
	}{
		// columns count bytes: "é" is two, so && is at 18, not 17
		{"after a multi-byte rune", 5, 18, "INVERT_LOGICAL", "\tx := \"é\" != \"\" || a < b\n"},
		{"the second of two on a line", 5, 23, "CONDITIONALS_BOUNDARY", "\tx := \"é\" != \"\" && a <= b\n"},
		{"the first of two on a line", 5, 12, "CONDITIONALS_NEGATION", "\tx := \"é\" == \"\" && a < b\n"},
		{"a case condition", 7, 9, "CONDITIONALS_NEGATION", "\tcase a < b, a-b <= 1:\n"},
		{"the second condition of a case", 7, 19, "CONDITIONALS_BOUNDARY", "\tcase a >= b, a-b < 1:\n"},
		{"binary minus in a case", 7, 16, "ARITHMETIC_BASE", "\tcase a >= b, a+b <= 1:\n"},
		{"increment", 8, 4, "INCREMENT_DECREMENT", "\t\ta--\n"},
		{"unary minus", 10, 20, "INVERT_NEGATIVES", "\treturn x || a-1 > +b\n"},
		{"binary minus as a negative", 10, 15, "INVERT_NEGATIVES", "\treturn x || a+1 > -b\n"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got, err := mutate([]byte(src), c.line, c.col, c.typ)
			if err != nil {
				t.Fatal(err)
			}
			want := replaceLine(t, src, c.line, c.want)
			if string(got) != want {
				t.Errorf("got\n%s\nwant\n%s", got, want)
			}
		})
	}
}

func TestMutateRefusesAPositionWithoutSuchAToken(t *testing.T) {
	src := []byte("package p\n\nvar x = 1 < 2 && 3 > 4\n")
	cases := []struct {
		name      string
		line, col int
		typ       string
	}{
		{"a column one byte off", 3, 12, "CONDITIONALS_BOUNDARY"},
		{"a column one byte short", 3, 10, "CONDITIONALS_BOUNDARY"},
		{"the wrong line", 2, 11, "CONDITIONALS_BOUNDARY"},
		{"an operator of another type", 3, 15, "CONDITIONALS_BOUNDARY"},
		{"past the end", 9, 1, "CONDITIONALS_BOUNDARY"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if _, err := mutate(src, c.line, c.col, c.typ); !errors.Is(err, errNoToken) {
				t.Fatalf("err = %v, want errNoToken", err)
			}
		})
	}
	if _, err := mutate(src, 3, 11, "NO_SUCH_TYPE"); err == nil {
		t.Fatal("an unknown type was accepted")
	}
}

// TestMutateAgreesWithTheParserOnRealFiles finds every mutant the way gremlins does
// (the positions of go/ast's operators) in some of the module's files, applies it and
// parses the result: the operator at that position must be the table's replacement,
// and every other operator unchanged.
func TestMutateAgreesWithTheParserOnRealFiles(t *testing.T) {
	files := []string{"invoice/apply.go", "bolt/pending.go", "ingest/config.go", "epay/callback.go"}
	for _, f := range files {
		path := filepath.Join("..", "..", "internal", f)
		src, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		before, err := operators(src)
		if err != nil {
			t.Fatal(err)
		}
		n := 0
		for pos, tok := range before {
			for typ, table := range mutations {
				to, ok := table[tok]
				if !ok {
					continue
				}
				got, err := mutate(src, pos.Line, pos.Column, typ)
				if err != nil {
					t.Fatalf("%s:%d:%d %s: %v", f, pos.Line, pos.Column, typ, err)
				}
				after, err := operators(got)
				if err != nil {
					// a mutant that does not compile, such as &x made |x: gremlins
					// writes it too (not viable); check the bytes instead
					checkBytes(t, src, got, pos, tok, to)
					n++
					continue
				}
				for p, was := range before {
					want := was
					if p == pos {
						want = to
					}
					if p.Line == pos.Line && p.Column > pos.Column {
						// a shorter or longer operator moves the rest of its line
						p.Column += len(to.String()) - len(tok.String())
					}
					if after[p] != want {
						t.Fatalf("%s:%d:%d %s: at %d:%d got %s, want %s", f, pos.Line, pos.Column, typ, p.Line, p.Column, after[p], want)
					}
				}
				n++
			}
		}
		if n < 10 {
			t.Fatalf("%s: only %d mutants found", f, n)
		}
	}
}

type linecol struct{ Line, Column int }

// operators maps the position of each operator gremlins could mutate to its token.
func operators(src []byte) (map[linecol]token.Token, error) {
	fset := token.NewFileSet()
	file, err := parser.ParseFile(fset, "", src, parser.ParseComments)
	if err != nil {
		return nil, err
	}
	out := map[linecol]token.Token{}
	add := func(pos token.Pos, tok token.Token) {
		p := fset.Position(pos)
		out[linecol{p.Line, p.Column}] = tok
	}
	ast.Inspect(file, func(n ast.Node) bool {
		switch n := n.(type) {
		case *ast.AssignStmt:
			add(n.TokPos, n.Tok)
		case *ast.BinaryExpr:
			add(n.OpPos, n.Op)
		case *ast.BranchStmt:
			add(n.TokPos, n.Tok)
		case *ast.IncDecStmt:
			add(n.TokPos, n.Tok)
		case *ast.UnaryExpr:
			add(n.OpPos, n.Op)
		}
		return true
	})
	return out, nil
}

// checkBytes checks that got is src with tok at pos replaced by to, and nothing else.
func checkBytes(t *testing.T, src, got []byte, pos linecol, tok, to token.Token) {
	t.Helper()
	lines := bytes.SplitAfter(src, []byte("\n"))
	off := pos.Column - 1
	for _, l := range lines[:pos.Line-1] {
		off += len(l)
	}
	want := slices.Concat(src[:off], []byte(to.String()), src[off+len(tok.String()):])
	if !bytes.HasPrefix(src[off:], []byte(tok.String())) || !bytes.Equal(got, want) {
		t.Fatalf("%d:%d %s -> %s: got a file that is not src with that one change", pos.Line, pos.Column, tok, to)
	}
}

func replaceLine(t *testing.T, src string, line int, with string) string {
	t.Helper()
	lines := strings.SplitAfter(src, "\n")
	if line > len(lines) {
		t.Fatalf("no line %d", line)
	}
	lines[line-1] = with
	return strings.Join(lines, "")
}
