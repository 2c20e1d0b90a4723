package epayapi

import (
	"encoding/json"
	"testing"
)

// FuzzParseToken: any answer is either a token whose Raw is the input, or an error.
func FuzzParseToken(f *testing.F) {
	f.Add([]byte(tokenBody))
	f.Add([]byte(`{"access_token":"x","expires_in":"1200"}`))
	f.Add([]byte(`{"access_token":1,"expires_in":1e3}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		tok, err := parseToken(b)
		if err != nil {
			return
		}
		if tok.AccessToken == "" || tok.ExpiresIn < 0 || !json.Valid(tok.Raw) {
			t.Fatalf("accepted a bad token: %v", tok)
		}
	})
}

// FuzzTransaction: decoding never panics and keeps Raw.
func FuzzTransaction(f *testing.F) {
	f.Add([]byte(`{"id":"a","amount":"12.22","secure":"yes","reasonCode":"484"}`))
	f.Add([]byte(`{"amount":1e2,"secure":1,"reasonCode":4.0}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		var tx Transaction
		if err := json.Unmarshal(b, &tx); err != nil {
			return
		}
		if !json.Valid(tx.Raw) {
			t.Fatalf("Raw %q is not the JSON read", tx.Raw)
		}
	})
}
