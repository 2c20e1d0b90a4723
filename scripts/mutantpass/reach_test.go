package main

import (
	"os"
	"path/filepath"
	"testing"
)

// A mutant of a case expression is reached when the block holding its switch ran; one
// in a block that never ran, or in a constant outside any function, is not.
func TestReachedFollowsTheSwitchAroundACaseAndNeverAConstant(t *testing.T) {
	src := []byte(`package p

const limit = 1 << 3

func f(n int) int {
	switch {
	case n > limit:
		return 1
	}
	if n < 0 {
		return -n
	}
	return 0
}
`)
	profile := filepath.Join(t.TempDir(), "cover.out")
	// as go test writes it: f's first block ran (to the switch), the case's body and
	// the if's did not
	if err := os.WriteFile(profile, []byte(`mode: set
example.com/p/f.go:5.19,6.9 1 1
example.com/p/f.go:7.17,8.11 1 0
example.com/p/f.go:10.2,10.12 1 1
example.com/p/f.go:10.12,12.3 1 0
example.com/p/f.go:13.2,13.10 1 1
`), 0o600); err != nil {
		t.Fatal(err)
	}
	blocks, err := readProfile(profile)
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name      string
		line, col int
		want      bool
	}{
		{"the case expression", 7, 9, true},
		{"the if condition", 10, 7, true},
		{"the negation in the if's body", 11, 10, false},
		{"the constant", 3, 17, false},
	}
	for _, c := range cases {
		got, err := reached(blocks, "f.go", src, c.line, c.col)
		if err != nil || got != c.want {
			t.Errorf("%s (%d:%d): reached %v (%v), want %v", c.name, c.line, c.col, got, err, c.want)
		}
	}
}

// The combined numbers count the second pass's statuses in place of NOT COVERED:
// a timed out or not viable mutant leaves both the covered and the not covered.
func TestCombineCountsTheSecondPassInPlaceOfNotCovered(t *testing.T) {
	m := func(line int, status string) mutant {
		return mutant{Type: "CONDITIONALS_NEGATION", Status: status, Line: line, Column: 1}
	}
	g := report{Files: []reportFile{{Name: "a.go", Mutations: []mutant{
		m(1, killed), m(2, killed), m(3, lived), m(4, notCovered), m(5, notCovered), m(6, notCovered), m(7, notCovered),
	}}}}
	p := pass{Files: []reportFile{{Name: "a.go", Mutations: []mutant{m(4, killed), m(5, lived), m(6, notViable)}}}}
	gc, cc := count(g.Files), count(combine(g, p))
	if gc != (counts{killed: 2, lived: 1, notCovered: 4}) || gc.coverage() != 300.0/7 {
		t.Fatalf("gremlins' counts %+v coverage %.2f", gc, gc.coverage())
	}
	if cc != (counts{killed: 3, lived: 2, notCovered: 1}) || cc.coverage() != 500.0/6 || cc.efficacy() != 60 {
		t.Fatalf("combined counts %+v coverage %.2f efficacy %.2f", cc, cc.coverage(), cc.efficacy())
	}
}
