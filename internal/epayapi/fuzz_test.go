package epayapi

import (
	"bytes"
	"encoding/json"
	"reflect"
	"strings"
	"testing"
	"time"
)

// FuzzParseToken: any answer is either a token whose Raw is the input (less the
// whitespace around it), or an error; a string access_token is what encoding/json reads.
func FuzzParseToken(f *testing.F) {
	f.Add([]byte(tokenBody))
	f.Add([]byte(`{"access_token":"x","expires_in":"1200"}`))
	f.Add([]byte(`{"access_token":1,"expires_in":1e3}`))
	f.Add([]byte(" \n{\"access_token\":\"a\\u0062\",\"expires_in\":0} "))
	f.Fuzz(func(t *testing.T, b []byte) {
		in := append([]byte(nil), b...)
		tok, err := parseToken(b)
		if err != nil {
			return
		}
		if tok.AccessToken == "" || tok.ExpiresIn < 0 || tok.ExpiresIn > maxTokenLife*time.Second {
			t.Fatalf("accepted a bad token: %v", tok)
		}
		if !bytes.Equal(tok.Raw, bytes.TrimSpace(in)) {
			t.Fatalf("Raw %q, want the answer %q", tok.Raw, bytes.TrimSpace(in))
		}
		var ref struct {
			AccessToken any `json:"access_token"`
		}
		if json.Unmarshal(in, &ref) == nil {
			if s, ok := ref.AccessToken.(string); ok && strings.TrimSpace(s) != "" && s != tok.AccessToken && strings.TrimSpace(s) != tok.AccessToken {
				t.Fatalf("access_token %q, encoding/json reads %q", tok.AccessToken, s)
			}
		}
	})
}

// FuzzTransaction: decoding never panics, keeps Raw (a copy of the value read), gives
// the same transaction (or the same error) every time, and Raw read again gives it too.
func FuzzTransaction(f *testing.F) {
	f.Add([]byte(`{"id":"a","amount":"12.22","secure":"yes","reasonCode":"484"}`))
	f.Add([]byte(`{"amount":1e2,"secure":1,"reasonCode":4.0}`))
	f.Add([]byte(`{"terminal":"98120001","terminalID":"t","invoiceID":"1","invoiceId":"2"}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		var tx Transaction
		err := json.Unmarshal(b, &tx)
		for range 3 {
			var again Transaction
			err2 := json.Unmarshal(b, &again)
			if (err == nil) != (err2 == nil) || err == nil && !reflect.DeepEqual(tx, again) {
				t.Fatalf("two decodes differ: %+v %v / %+v %v", tx, err, again, err2)
			}
		}
		if err != nil {
			return
		}
		buf := append([]byte(nil), b...)
		var own Transaction
		if err := json.Unmarshal(buf, &own); err != nil {
			t.Fatal(err)
		}
		for i := range buf { // Raw is a copy: the caller's buffer may be reused
			buf[i] = 'x'
		}
		if !bytes.Equal(own.Raw, bytes.TrimSpace(b)) { // encoding/json hands over the value alone
			t.Fatalf("Raw %q, want the JSON read %q", own.Raw, b)
		}
		var again Transaction // Raw read again is the same transaction
		if err := json.Unmarshal(tx.Raw, &again); err != nil || !reflect.DeepEqual(tx, again) {
			t.Fatalf("Raw read again: %+v %v, want %+v", again, err, tx)
		}
	})
}

// FuzzP2PStatus: as FuzzPaymentStatus, for the P2P answer.
func FuzzP2PStatus(f *testing.F) {
	f.Add([]byte(`{"result":{"code":"100","message":"SUCCESS"},"transaction":{"p2p":{"id":"a","statusName":"CHARGE","amount":200}}}`))
	f.Add([]byte(`{"result":{"code":"102"},"transaction":{"p2p":null}}`))
	f.Add([]byte(`{"result":{"code":"100"},"transaction":{"id":"flat"}}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		s, err := parseP2PStatus(b)
		if s == nil {
			if err == nil {
				t.Fatal("no status and no error")
			}
			return
		}
		if s.Code == "" || string(s.Raw) != string(b) {
			t.Fatalf("accepted %q as %+v", b, s)
		}
		if (s.Code == ResultSuccess) != (err == nil) {
			t.Fatalf("result %q with error %v", s.Code, err)
		}
	})
}

// FuzzPaymentStatus: any status answer is a PaymentStatus with a result code and Raw,
// or an error; never a panic. A code other than 100 comes with its error.
func FuzzPaymentStatus(f *testing.F) {
	f.Add([]byte(`{"resultCode":"100","resultMessage":"OK","transaction":{"id":"a","statusName":"CHARGE","amount":100,"secure":true,"reasonCode":"0"}}`))
	f.Add([]byte(`{"resultCode":102,"resultMessage":"not found"}`))
	f.Add([]byte(`{"resultCode":"107","transaction":null}`))
	f.Add([]byte(`{"resultCode":["100"]}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		s, err := parsePaymentStatus(b)
		if s == nil {
			if err == nil {
				t.Fatal("no status and no error")
			}
			return
		}
		if s.ResultCode == "" || string(s.Raw) != string(b) {
			t.Fatalf("accepted %q as %+v", b, s)
		}
		if (s.ResultCode == ResultSuccess) != (err == nil) {
			t.Fatalf("result %q with error %v", s.ResultCode, err)
		}
	})
}
