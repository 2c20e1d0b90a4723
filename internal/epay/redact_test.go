package epay

import (
	"bytes"
	"encoding/json"
	"os"
	"strings"
	"testing"

	"github.com/epayflow/epayflow/internal/jsonscan"
)

func TestRedactSecretHashHidesOnlyTheTopLevelValue(t *testing.T) {
	tests := map[string]struct{ in, want string }{
		"top level":         {`{"invoiceId":"123456","secret_hash":"A2345ABCDEFGHIJKLMNOPQRSTU","amount":100}`, `{"invoiceId":"123456","secret_hash":"[redacted]","amount":100}`},
		"spaces kept":       {`{ "secret_hash" : "x" , "a":1}`, `{ "secret_hash" : "[redacted]" , "a":1}`},
		"escaped key":       {`{"secret\u005fhash":"x"}`, `{"secret\u005fhash":"[redacted]"}`},
		"nested untouched":  {`{"data":{"secret_hash":"x"}}`, `{"data":{"secret_hash":"x"}}`},
		"in a string value": {`{"note":"secret_hash"}`, `{"note":"secret_hash"}`},
		"none":              {`{"a":1}`, `{"a":1}`},
		"not an object":     {`["secret_hash"]`, `["secret_hash"]`},
		"not JSON":          {`{"secret_hash":`, `{"secret_hash":`},
		"null value":        {`{"secret_hash":null}`, `{"secret_hash":"[redacted]"}`},
	}
	for name, tt := range tests {
		t.Run(name, func(t *testing.T) {
			got := RedactSecretHash([]byte(tt.in))
			if string(got) != tt.want {
				t.Fatalf("RedactSecretHash(%s) = %s, want %s", tt.in, got, tt.want)
			}
		})
	}
}

func TestRedactSecretHashLeavesTheSampleOtherwiseVerbatim(t *testing.T) {
	raw, err := os.ReadFile("testdata/success.json")
	if err != nil {
		t.Fatal(err)
	}
	signed := bytes.Replace(raw, []byte(`"terminal"`), []byte(`"secret_hash": "A2345ABCDEFGHIJKLMNOPQRSTU", "terminal"`), 1)
	got := RedactSecretHash(signed)
	if bytes.Contains(got, []byte("A2345ABCDEFGHIJKLMNOPQRSTU")) || !json.Valid(got) {
		t.Fatalf("not redacted or not JSON: %s", got)
	}
	if want := bytes.Replace(signed, []byte(`"A2345ABCDEFGHIJKLMNOPQRSTU"`), []byte(Redacted), 1); !bytes.Equal(got, want) {
		t.Fatalf("changed more than the value:\n%s\n%s", got, want)
	}
	if &RedactSecretHash(raw)[0] != &raw[0] {
		t.Fatal("a body without secret_hash must be returned as is, not copied")
	}
}

// A body repeating secret_hash (which DecodeCallback refuses, but one may be stored from
// before) shows none of its values.
func TestRedactSecretHashHidesEveryRepetition(t *testing.T) {
	in := `{"secret_hash":"A","invoiceId":"123456","secret\u005fhash":"B"}`
	want := `{"secret_hash":"[redacted]","invoiceId":"123456","secret\u005fhash":"[redacted]"}`
	if got := RedactSecretHash([]byte(in)); string(got) != want {
		t.Fatalf("RedactSecretHash(%s) = %s, want %s", in, got, want)
	}
}

// A body nested deeper than the scanner follows (stored before the limit) cannot be
// searched for the key: it is hidden whole, unless it cannot hold the key at all.
func TestRedactSecretHashHidesWhatItCannotRead(t *testing.T) {
	deep := strings.Repeat("[", jsonscan.MaxDepth) + strings.Repeat("]", jsonscan.MaxDepth)
	in := `{"deep":` + deep + `,"secret_hash":"A2345ABCDEFGHIJKLMNOPQRSTU"}`
	if got := RedactSecretHash([]byte(in)); string(got) != Redacted {
		t.Fatalf("RedactSecretHash(deep) = %.60s…, want %s", got, Redacted)
	}
	plain := []byte(`{"deep":` + deep + `}`)
	if got := RedactSecretHash(plain); &got[0] != &plain[0] {
		t.Fatalf("a deep body without the key: %.60s…, want it as it is", got)
	}
}
