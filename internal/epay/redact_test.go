package epay

import (
	"bytes"
	"encoding/json"
	"os"
	"testing"
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
