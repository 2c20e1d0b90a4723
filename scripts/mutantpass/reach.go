package main

import (
	"bufio"
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"os"
	"strings"
)

// block is one block of a coverage profile: its span and whether a test ran it.
type block struct {
	file                string // as in the profile: the import path's directory and the file name
	startLine, startCol int
	endLine, endCol     int
	ran                 bool
}

// readProfile reads a `go test -coverprofile` file.
func readProfile(path string) ([]block, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var out []block
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := sc.Text()
		if strings.HasPrefix(line, "mode:") {
			continue
		}
		var b block
		var stmts, n int
		i := strings.LastIndex(line, ":")
		if i < 0 {
			return nil, fmt.Errorf("%s: %q", path, line)
		}
		b.file = line[:i]
		if _, err := fmt.Sscanf(line[i+1:], "%d.%d,%d.%d %d %d", &b.startLine, &b.startCol, &b.endLine, &b.endCol, &stmts, &n); err != nil {
			return nil, fmt.Errorf("%s: %q: %w", path, line, err)
		}
		b.ran = n > 0
		out = append(out, b)
	}
	return out, sc.Err()
}

func (b block) contains(line, col int) bool {
	after := line > b.startLine || (line == b.startLine && col >= b.startCol)
	before := line < b.endLine || (line == b.endLine && col < b.endCol)
	return after && before
}

// reached says whether the tests ran the code of the mutant at line:col of file
// (src): the run of its own coverage block, or, where Go's coverage has none (a
// case expression, a switch's tag), that of the innermost statement around it that
// has one. A constant outside any function has none: not reached.
func reached(profile []block, file string, src []byte, line, col int) (bool, error) {
	blocks := make([]block, 0)
	for _, b := range profile {
		if strings.HasSuffix(b.file, "/"+file) {
			blocks = append(blocks, b)
		}
	}
	at := func(line, col int) (ran, found bool) {
		for _, b := range blocks {
			if b.contains(line, col) {
				found = true
				ran = ran || b.ran
			}
		}
		return ran, found
	}
	if ran, found := at(line, col); found {
		return ran, nil
	}
	fset := token.NewFileSet()
	f, err := parser.ParseFile(fset, file, src, 0)
	if err != nil {
		return false, err
	}
	var stmts []ast.Stmt // around the mutant, outermost first
	ast.Inspect(f, func(n ast.Node) bool {
		if n == nil {
			return false
		}
		s, e := fset.Position(n.Pos()), fset.Position(n.End())
		if (s.Line > line || (s.Line == line && s.Column > col)) || (e.Line < line || (e.Line == line && e.Column <= col)) {
			return false
		}
		if st, ok := n.(ast.Stmt); ok {
			stmts = append(stmts, st)
		}
		return true
	})
	for i := len(stmts) - 1; i >= 0; i-- {
		p := fset.Position(stmts[i].Pos())
		if ran, found := at(p.Line, p.Column); found {
			return ran, nil
		}
	}
	return false, nil
}
