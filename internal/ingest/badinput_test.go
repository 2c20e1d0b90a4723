package ingest

import (
	"bytes"
	"io"
	"net/http"
	"strconv"
	"strings"
	"testing"
)

func TestBadInputsAreRefusedAndNothingIsStored(t *testing.T) {
	t.Parallel()
	ti := mustStartIngest(t)
	hash := ti.Keys.Sign(testTerminal, "123456789")
	// obj builds a callback from members, with a valid id, invoiceId and secret_hash
	// unless members override them.
	obj := func(members ...string) []byte {
		fields := map[string]string{"id": `"tx-1"`, "invoiceId": `"123456789"`, "terminal": `"` + testTerminal + `"`, "secret_hash": `"` + hash + `"`, "code": `"ok"`}
		var b strings.Builder
		b.WriteString("{")
		for _, m := range members {
			k, _, _ := strings.Cut(m, ":")
			delete(fields, strings.Trim(k, `"`))
		}
		for k, v := range fields {
			b.WriteString(`"` + k + `":` + v + `,`)
		}
		b.WriteString(strings.Join(members, ","))
		return []byte(strings.TrimSuffix(b.String(), ",") + "}")
	}
	without := func(key string) []byte {
		return bytes.Replace(obj(), []byte(`"`+key+`":`), []byte(`"x_`+key+`":`), 1)
	}
	tests := []struct {
		name   string
		body   []byte
		status int
		reason string
	}{
		{"empty body", nil, 400, "bad_json"},
		{"whitespace only", []byte(" \r\n\t"), 400, "bad_json"},
		{"not JSON", []byte("invoiceId=123456789&id=tx-1"), 400, "bad_json"},
		{"JSON array", []byte(`[` + string(obj()) + `]`), 400, "bad_json"},
		{"JSON string", []byte(`"{}"`), 400, "bad_json"},
		{"JSON number", []byte(`191111111`), 400, "bad_json"},
		{"null body", []byte(`null`), 400, "bad_json"},
		{"truncated object", obj()[:40], 400, "bad_json"},
		{"trailing garbage", append(obj(), " garbage"...), 400, "bad_json"},
		{"two objects", append(obj(), obj()...), 400, "bad_json"},
		{"single quotes", []byte(`{'invoiceId':'123456789'}`), 400, "bad_json"},
		{"invalid UTF-8 outside strings", append(obj(), 0xff), 400, "bad_json"},
		{"nested 65 deep ({\"x\":[[[…]]]})", []byte(`{"x":` + strings.Repeat("[", 64) + strings.Repeat("]", 64) + `}`), 400, "bad_json"},
		{"byte order mark", append([]byte("\xef\xbb\xbf"), obj()...), 400, "bad_json"},
		{"10 MiB body", bytes.Repeat([]byte(" "), 10<<20), 413, "too_large"},
		{"one byte over 64 KiB", obj(`"pad":"` + strings.Repeat("x", MaxBodyBytes) + `"`), 413, "too_large"},
		{"duplicate key", obj(`"invoiceId":"123456789"`, `"invoiceId":"987654321"`), 400, "duplicate_key"},
		{"duplicate key by escape", obj(`"invoice\u0049d":"987654321"`, `"invoiceId":"123456789"`), 400, "duplicate_key"},
		{"cardType and CardType", obj(`"cardType":"VISA"`, `"CardType":"MC"`), 400, "duplicate_key"},
		{"amount object", obj(`"amount":{"value":100}`), 400, "bad_field_type"},
		{"amount huge", obj(`"amount":123456789012345678901234567890`), 400, "bad_field_type"},
		{"amount exponent", obj(`"amount":1e400`), 400, "bad_field_type"},
		{"amount negative", obj(`"amount":-100`), 400, "bad_field_type"},
		{"reasonCode huge", obj(`"reasonCode":99999999999999999999999`), 400, "bad_field_type"},
		{"invoiceId and invoiceID", obj(`"invoiceID":"987654321"`), 400, "duplicate_key"},
		{"nested invoiceId", obj(`"invoiceId":{"invoiceId":"123456789"}`), 400, "bad_field_type"},
		{"invoiceId array", obj(`"invoiceId":["123456789"]`), 400, "bad_field_type"},
		{"invoiceId missing", without("invoiceId"), 400, "bad_invoice_id"},
		{"invoiceId null", obj(`"invoiceId":null`), 400, "bad_invoice_id"},
		{"invoiceId with letters", obj(`"invoiceId":"12345678a"`), 400, "bad_invoice_id"},
		{"invoiceId of 16 digits", obj(`"invoiceId":"1234567890123456"`), 400, "bad_invoice_id"},
		{"invoiceId of 5 digits", obj(`"invoiceId":"12345"`), 400, "bad_invoice_id"},
		{"invoiceId negative number", obj(`"invoiceId":-123456789`), 400, "bad_invoice_id"},
		{"invoiceId in Arabic-Indic digits", obj(`"invoiceId":"١٢٣٤٥٦٧٨٩"`), 400, "bad_invoice_id"},
		{"invoiceId in fullwidth digits", obj(`"invoiceId":"１２３４５６"`), 400, "bad_invoice_id"},
		{"invoiceId with a NUL", obj(`"invoiceId":"123456789\u0000"`), 400, "bad_invoice_id"},
		{"id missing", without("id"), 400, "bad_id"},
		{"id with a space", obj(`"id":"tx 1"`), 400, "bad_id"},
		{"id of 65 characters", obj(`"id":"` + strings.Repeat("a", 65) + `"`), 400, "bad_id"},
		{"id object", obj(`"id":{}`), 400, "bad_field_type"},
		{"code with a newline", obj(`"code":"ok\nNats-Msg-Id: x"`), 400, "bad_code"},
		{"code too long", obj(`"code":"` + strings.Repeat("o", 33) + `"`), 400, "bad_code"},
		{"secret_hash missing", without("secret_hash"), 401, "secret_hash_missing"},
		{"secret_hash number", obj(`"secret_hash":12345`), 401, "secret_hash_malformed"},
		{"secret_hash of another invoice", obj(`"invoiceId":"123456780"`), 401, "secret_hash_mismatch"},
	}
	if len(tests) < 25 {
		t.Fatalf("only %d bad inputs", len(tests))
	}
	counts := map[string]int{}
	for _, tt := range tests {
		for _, route := range []string{RoutePostlink, RouteFailurePostlink} {
			res := post(t, ti.URL, route, tt.body)
			if res.status != tt.status {
				t.Errorf("%s on %s: %d %q, want %d", tt.name, route, res.status, res.body, tt.status)
			}
			if !strings.HasPrefix(res.header.Get("Content-Type"), "text/plain") || len(res.body) > 300 || strings.TrimSpace(res.body) == "" {
				t.Errorf("%s: answer %q (%s) is not a short plain text", tt.name, res.body, res.header.Get("Content-Type"))
			}
			counts[tt.reason]++
		}
	}
	if n := len(ti.storedMessages(t)); n != 0 {
		t.Fatalf("stream holds %d messages after bad inputs, want none", n)
	}
	for reason, n := range counts {
		series := `epayflow_ingest_rejections_total{reason="` + reason + `"}`
		if got := ti.metric(t, series); got != strconv.Itoa(n) {
			t.Errorf("%s = %q, want %d", series, got, n)
		}
	}
	// The same body within the limit is taken: the limit is 64 KiB exactly.
	pad := MaxBodyBytes - len(obj(`"pad":""`))
	body := obj(`"pad":"` + strings.Repeat("x", pad) + `"`)
	if len(body) != MaxBodyBytes {
		t.Fatalf("body is %d bytes, want %d", len(body), MaxBodyBytes)
	}
	if res := post(t, ti.URL, RoutePostlink, body); res.status != http.StatusOK {
		t.Errorf("a 64 KiB callback: %d %q, want 200", res.status, res.body)
	}
}

func TestBodyOverLimitWithoutContentLengthIs413(t *testing.T) {
	t.Parallel()
	ti := mustStartIngest(t)
	// A chunked body: the size is only known by reading, and reading stops past the limit.
	pr, pw := io.Pipe()
	go func() {
		chunk := bytes.Repeat([]byte(" "), 32<<10)
		for range 320 { // 10 MiB
			if _, err := pw.Write(chunk); err != nil {
				return
			}
		}
		pw.Close()
	}()
	req, _ := http.NewRequest(http.MethodPost, ti.URL+RoutePostlink, pr)
	res, err := client.Do(req)
	if err != nil {
		t.Fatalf("POST: %v", err)
	}
	res.Body.Close()
	pr.Close()
	if res.StatusCode != http.StatusRequestEntityTooLarge {
		t.Fatalf("status %d, want 413", res.StatusCode)
	}
}

func TestOnlyPOST(t *testing.T) {
	t.Parallel()
	ti := mustStartIngest(t)
	for _, route := range []string{RoutePostlink, RouteFailurePostlink} {
		res := get(t, ti.URL+route)
		if res.status != http.StatusMethodNotAllowed || res.header.Get("Allow") != http.MethodPost {
			t.Errorf("GET %s: %d, Allow %q", route, res.status, res.header.Get("Allow"))
		}
	}
}
