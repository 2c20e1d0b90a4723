package jsonscan

import (
	"errors"
	"testing"
)

func TestObjectScannerYieldsEveryMemberInPlace(t *testing.T) {
	doc := []byte(` {"a" : 1, "b":{"c":[1, "}"]} ,"a":"x\"y", "k\u0065y" :null}  `)
	want := []struct{ key, val string }{{`"a"`, `1`}, {`"b"`, `{"c":[1, "}"]}`}, {`"a"`, `"x\"y"`}, {`"k\u0065y"`, `null`}}
	sc := ScanObject(doc)
	n := 0
	for ; sc.Next(); n++ {
		if n >= len(want) || string(sc.Key()) != want[n].key || string(sc.Value()) != want[n].val {
			t.Fatalf("member %d: %s: %s", n, sc.Key(), sc.Value())
		}
		if !within(sc.Key(), doc) || !within(sc.Value(), doc) {
			t.Fatalf("member %d is not a part of the document", n)
		}
	}
	if n != len(want) || sc.Err() != nil {
		t.Fatalf("%d members, error %v", n, sc.Err())
	}
	if sc.Next() || sc.Err() != nil {
		t.Fatal("Next after the end")
	}
}

// within reports whether part is a slice of doc.
func within(part, doc []byte) bool {
	return cap(part) <= cap(doc) && &doc[cap(doc)-cap(part)] == &part[0]
}

func TestScanObjectVerdicts(t *testing.T) {
	tests := []struct {
		doc     string
		members int
		want    error
	}{
		{`{}`, 0, nil},
		{"\t{ }\n", 0, nil},
		{`{"a":1}`, 1, nil},
		{`[{"a":1}]`, 0, ErrNotObject},
		{`"{}"`, 0, ErrNotObject},
		{`null`, 0, ErrNotObject},
		{`[{"a":1}`, 0, ErrSyntax},
		{``, 0, ErrSyntax},
		{`{"a":1,"b":}`, 1, ErrSyntax}, // a yielded, then the syntax error
		{`{"a":1}{}`, 1, ErrSyntax},
		{`{"a":1,"b":` + nested(MaxDepth) + `}`, 1, ErrTooDeep},
	}
	for _, tt := range tests {
		sc := ScanObject([]byte(tt.doc))
		n := 0
		for sc.Next() {
			n++
		}
		if n != tt.members || !errors.Is(sc.Err(), tt.want) || (tt.want == nil) != (sc.Err() == nil) {
			t.Errorf("ScanObject(%s): %d members, %v; want %d, %v", tt.doc, n, sc.Err(), tt.members, tt.want)
		}
	}
}

// A caller that stops at its own error learns from Rest whether the document was JSON.
func TestObjectScannerRestChecksWhatWasNotRead(t *testing.T) {
	for doc, want := range map[string]error{
		`{"a":1,"b":2,"c":[3]}`:  nil,
		`{"a":1,"b":2,"c":[3,]}`: ErrSyntax,
		`{"a":1,"b":2} x`:        ErrSyntax,
		`{"a":1}`:                nil,
	} {
		sc := ScanObject([]byte(doc))
		if !sc.Next() || string(sc.Value()) != "1" {
			t.Fatalf("%s: first member %s", doc, sc.Value())
		}
		if err := sc.Rest(); !errors.Is(err, want) || (want == nil) != (err == nil) {
			t.Errorf("%s: Rest = %v, want %v", doc, err, want)
		}
		if sc.Next() {
			t.Errorf("%s: Next after Rest", doc)
		}
	}
}

func TestObjectScannerAllocatesNothing(t *testing.T) {
	doc := []byte(`{"id":"1","amount":12.5,"nested":{"a":[1,2,{"b":null}]},"s":"esc\u0041ped"}`)
	n := testing.AllocsPerRun(100, func() {
		sc := ScanObject(doc)
		for sc.Next() {
		}
		if sc.Err() != nil {
			t.Fatal(sc.Err())
		}
	})
	if n != 0 {
		t.Errorf("%v allocations", n)
	}
}
