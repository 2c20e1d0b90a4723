package jsonscan

import (
	"errors"
	"testing"
)

func TestReplaceValue(t *testing.T) {
	tests := map[string]struct{ doc, want string }{
		"top level":         {`{"a":1,"k":"secret","b":2}`, `{"a":1,"k":"R","b":2}`},
		"spaces kept":       {"{ \"k\" :\n \"x\" , \"a\":1 }", "{ \"k\" :\n \"R\" , \"a\":1 }"},
		"escaped key":       {`{"\u006b":"x"}`, `{"\u006b":"R"}`},
		"every repetition":  {`{"k":1,"a":2,"k":{"x":3}}`, `{"k":"R","a":2,"k":"R"}`},
		"object value":      {`{"k":{"k":[1,2]}}`, `{"k":"R"}`},
		"nested untouched":  {`{"data":{"k":"x"}}`, `{"data":{"k":"x"}}`},
		"in a string value": {`{"note":"k"}`, `{"note":"k"}`},
		"near miss":         {`{"K":1,"k ":2}`, `{"K":1,"k ":2}`},
	}
	for name, tt := range tests {
		got, err := ReplaceValue([]byte(tt.doc), "k", []byte(`"R"`))
		if err != nil || string(got) != tt.want {
			t.Errorf("%s: ReplaceValue(%s) = %s, %v; want %s", name, tt.doc, got, err, tt.want)
		}
	}
}

func TestReplaceValueLeavesTheDocumentAlone(t *testing.T) {
	doc := []byte(`{"a":"k"}`)
	if got, err := ReplaceValue(doc, "k", []byte(`"R"`)); err != nil || !same(got, doc) {
		t.Errorf("without the key: %s, %v; want the document itself", got, err)
	}
	doc = []byte(`{"k":1,"a":2}`)
	if got, _ := ReplaceValue(doc, "k", []byte(`"R"`)); same(got, doc) || string(doc) != `{"k":1,"a":2}` {
		t.Errorf("the document itself was changed: %s", doc)
	}
	for doc, want := range map[string]error{
		`["k"]`:                          ErrNotObject,
		`{"k":1`:                         ErrSyntax,
		`{"k":1,"x":` + nested(64) + `}`: ErrTooDeep,
		`{"k":1}x`:                       ErrSyntax,
	} {
		got, err := ReplaceValue([]byte(doc), "k", []byte(`"R"`))
		if !errors.Is(err, want) || string(got) != doc {
			t.Errorf("ReplaceValue(%s) = %s, %v; want it unchanged and %v", doc, got, err, want)
		}
	}
}
