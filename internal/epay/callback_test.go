package epay

import (
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/epayflow/epayflow/internal/jsonscan"
)

// mustReadSample returns one of the verbatim sample callbacks of the source document.
func mustReadSample(t testing.TB, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatalf("read sample: %v", err)
	}
	return b
}

func mustDecode(t *testing.T, body string) *Callback {
	t.Helper()
	c, err := DecodeCallback([]byte(body))
	if err != nil {
		t.Fatalf("DecodeCallback(%s): %v", body, err)
	}
	return c
}

func TestDecodeCallbackSuccessSample(t *testing.T) {
	raw := mustReadSample(t, "success.json")
	c, err := DecodeCallback(raw)
	if err != nil {
		t.Fatalf("DecodeCallback: %v", err)
	}
	strs := []struct{ name, got, want string }{
		{"accountId", c.AccountID, "sad12eqsda"},
		{"approvalCode", c.ApprovalCode, "157911"},
		{"cardId", c.CardID, "11f1111b-f151-6f11-e161-1111010a2111"},
		{"cardMask", c.CardMask, "440043...2222"},
		{"cardType", c.CardType, "VISA"},
		{"code", c.Code, "ok"},
		{"currency", c.Currency, "KZT"},
		{"dateTime", c.DateTime, "2024-07-29T10:50:56.765674319+05:00"},
		{"description", c.Description, "Tester Petrov"},
		{"email", c.Email, ""},
		{"id", c.ID, "1d1a11f1-1111-111c-1113b-e8340ce51111"},
		{"invoiceId", c.InvoiceID, "191111111"},
		{"ip", c.IP, "213.148.6.204"},
		{"ipCity", c.IPCity, ""},
		{"ipCountry", c.IPCountry, ""},
		{"ipDistrict", c.IPDistrict, ""},
		{"ipRegion", c.IPRegion, ""},
		{"issuer", c.Issuer, "JSC KASPI BANK"},
		{"language", c.Language, "RUS"},
		{"name", c.Name, "STANDARD CARDHOLDER"},
		{"phone", c.Phone, ""},
		{"reason", c.Reason, "success"},
		{"reference", c.Reference, "411111111117"},
		{"secure", c.Secure, "no"},
		{"secureDetails", c.SecureDetails, "F"},
		{"terminal", c.Terminal, "67e34d63-102f-4bd1-898e-370781d0074d"},
		{"secret_hash", c.SecretHash, ""},
	}
	for _, s := range strs {
		if s.got != s.want {
			t.Errorf("%s = %q, want %q", s.name, s.got, s.want)
		}
	}
	if c.Amount != 10000 {
		t.Errorf("amount = %d minor units, want 10000", c.Amount)
	}
	if c.ReasonCode != 0 {
		t.Errorf("reasonCode = %d, want 0", c.ReasonCode)
	}
	if c.IPLatitude != 0 || c.IPLongitude != 0 {
		t.Errorf("ip coordinates = %v,%v, want 0,0", c.IPLatitude, c.IPLongitude)
	}
	if !c.Succeeded() {
		t.Error("Succeeded() = false for code ok")
	}
	if len(c.Extra) != 0 {
		t.Errorf("Extra = %v, want none: every field of the sample is known", c.Extra)
	}
	if string(c.Raw) != string(raw) {
		t.Error("Raw is not the body verbatim")
	}
	if err := c.Validate(); err != nil {
		t.Errorf("Validate: %v", err)
	}
	when, err := c.Time()
	if err != nil {
		t.Fatalf("Time: %v", err)
	}
	want := time.Date(2024, 7, 29, 5, 50, 56, 765674319, time.UTC)
	if !when.Equal(want) {
		t.Errorf("Time = %v, want %v", when, want)
	}
}

func TestDecodeCallbackFailureSample(t *testing.T) {
	raw := mustReadSample(t, "failure.json")
	c, err := DecodeCallback(raw)
	if err != nil {
		t.Fatalf("DecodeCallback: %v", err)
	}
	strs := []struct{ name, got, want string }{
		{"id", c.ID, "ffffffff-0000-000f-f000-00f0000f000f"},
		{"dateTime", c.DateTime, "2020-01-01T00:00:00.00000+06:00"},
		{"invoiceId", c.InvoiceID, "10000000001"},
		{"currency", c.Currency, "KZT"},
		{"terminal", c.Terminal, "67e34d63-102f-4bd1-898e-370781d0074d"},
		{"accountId", c.AccountID, "1"},
		{"description", c.Description, "Payment in an online store"},
		{"language", c.Language, "RU"},
		{"cardMask", c.CardMask, "4444...4444"},
		{"CardType", c.CardType, ""},
		{"issuer", c.Issuer, "Halyk bank"},
		{"reference", c.Reference, ""},
		{"secure", c.Secure, "no"},
		{"secureDetails", c.SecureDetails, "F"},
		{"tokenRecipient", c.TokenRecipient, ""},
		{"code", c.Code, "error"},
		{"reason", c.Reason, "error description"},
		{"name", c.Name, "CARD HOLDER"},
		{"email", c.Email, "ch@example.kz"},
		{"phone", c.Phone, "77777777777"},
		{"ip", c.IP, "5.188.155.135"},
		{"ipCountry", c.IPCountry, "Kazakhstan"},
		{"ipCity", c.IPCity, "Almaty"},
		{"ipRegion", c.IPRegion, ""},
		{"ipDistrict", c.IPDistrict, ""},
	}
	for _, s := range strs {
		if s.got != s.want {
			t.Errorf("%s = %q, want %q", s.name, s.got, s.want)
		}
	}
	if c.Amount != 10000 {
		t.Errorf("amount = %d, want 10000", c.Amount)
	}
	if c.ReasonCode != -498 {
		t.Errorf("reasonCode = %d, want -498", c.ReasonCode)
	}
	if c.IPLongitude != 76.9293 || c.IPLatitude != 43.2638 {
		t.Errorf("ip coordinates = %v,%v, want 43.2638,76.9293", c.IPLatitude, c.IPLongitude)
	}
	if c.Succeeded() {
		t.Error("Succeeded() = true for code error")
	}
	if err := c.Validate(); err != nil {
		t.Errorf("Validate: %v", err)
	}
	if len(c.Extra) != 0 {
		t.Errorf("Extra = %v, want none", c.Extra)
	}
	if string(c.Raw) != string(raw) {
		t.Error("Raw is not the body verbatim")
	}
	if _, err := c.Time(); err != nil {
		t.Errorf("Time: %v", err)
	}
}

func TestDecodeCallbackSamplesValidate(t *testing.T) {
	for _, name := range []string{"success.json", "failure.json"} {
		c, err := DecodeCallback(mustReadSample(t, name))
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if err := c.Validate(); err != nil {
			t.Errorf("%s: Validate: %v", name, err)
		}
	}
}

func TestDecodeCallbackKeepsUnknownFieldsVerbatim(t *testing.T) {
	body := `{"id":"t1","invoiceId":"123456","amountBonus":5,"intReference":"IR","secure3D":"Y",` +
		`"newField": {"nested": [1, 2.50, "x"]}, "flag": true, "nothing": null}`
	c := mustDecode(t, body)
	want := map[string]string{
		"newField": `{"nested": [1, 2.50, "x"]}`,
		"flag":     `true`,
		"nothing":  `null`,
	}
	if len(c.Extra) != len(want) {
		t.Fatalf("Extra has %d fields, want %d: %v", len(c.Extra), len(want), c.Extra)
	}
	for k, v := range want {
		if got := string(c.Extra[k]); got != v {
			t.Errorf("Extra[%q] = %s, want %s", k, got, v)
		}
	}
	if c.AmountBonus != 500 || c.IntReference != "IR" || c.Secure3D != "Y" {
		t.Errorf("amountBonus, intReference, secure3D = %d, %q, %q", c.AmountBonus, c.IntReference, c.Secure3D)
	}
	if string(c.Raw) != body {
		t.Error("Raw is not the body verbatim")
	}
}

func TestDecodeCallbackTolerantTypes(t *testing.T) {
	tests := []struct {
		name  string
		body  string
		check func(*Callback) bool
	}{
		{"amount as number", `{"amount":12.22}`, func(c *Callback) bool { return c.Amount == 1222 }},
		{"amount as string", `{"amount":"12.22"}`, func(c *Callback) bool { return c.Amount == 1222 }},
		{"amount as integer string", `{"amount":"100"}`, func(c *Callback) bool { return c.Amount == 10000 }},
		{"amount null", `{"amount":null}`, func(c *Callback) bool { return c.Amount == 0 }},
		{"amount empty string", `{"amount":""}`, func(c *Callback) bool { return c.Amount == 0 }},
		{"reasonCode as int", `{"reasonCode":484}`, func(c *Callback) bool { return c.ReasonCode == 484 }},
		{"reasonCode as string", `{"reasonCode":"484"}`, func(c *Callback) bool { return c.ReasonCode == 484 }},
		{"negative reasonCode as string", `{"reasonCode":"-498"}`, func(c *Callback) bool { return c.ReasonCode == -498 }},
		{"secure as bool true", `{"secure":true}`, func(c *Callback) bool { return c.Secure == "true" }},
		{"secure as bool false", `{"secure":false}`, func(c *Callback) bool { return c.Secure == "false" }},
		{"secure as string", `{"secure":"yes"}`, func(c *Callback) bool { return c.Secure == "yes" }},
		{"id as number", `{"id":12345}`, func(c *Callback) bool { return c.ID == "12345" }},
		{"invoiceId as number", `{"invoiceId":191111111}`, func(c *Callback) bool { return c.InvoiceID == "191111111" }},
		{"latitude as string", `{"ipLatitude":"43.2638"}`, func(c *Callback) bool { return c.IPLatitude == 43.2638 }},
		{"longitude negative", `{"ipLongitude":-76.5}`, func(c *Callback) bool { return c.IPLongitude == -76.5 }},
		{"cardType lower", `{"cardType":"VISA"}`, func(c *Callback) bool { return c.CardType == "VISA" }},
		{"CardType upper", `{"CardType":"MC"}`, func(c *Callback) bool { return c.CardType == "MC" }},
		{"string with escapes", `{"name":"A\u00e9\"B"}`, func(c *Callback) bool { return c.Name == `Aé"B` }},
		{"null string", `{"email":null}`, func(c *Callback) bool { return c.Email == "" }},
		{"whitespace around", " \n\t{ \"code\" : \"ok\" } \n", func(c *Callback) bool { return c.Code == "ok" }},
		{"empty object", `{}`, func(c *Callback) bool { return c.ID == "" && c.Extra == nil }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := mustDecode(t, tt.body)
			if !tt.check(c) {
				t.Errorf("decoded %s to %+v", tt.body, *c)
			}
		})
	}
}

func TestDecodeCallbackRejects(t *testing.T) {
	tests := []struct {
		name string
		body string
		want error
	}{
		{"empty", ``, ErrNotJSONObject},
		{"whitespace", "  \n", ErrNotJSONObject},
		{"not JSON", `hello`, ErrNotJSONObject},
		{"array", `[{"id":"1"}]`, ErrNotJSONObject},
		{"string", `"{}"`, ErrNotJSONObject},
		{"number", `42`, ErrNotJSONObject},
		{"null", `null`, ErrNotJSONObject},
		{"unterminated", `{"id":"1"`, ErrNotJSONObject},
		{"trailing comma", `{"id":"1",}`, ErrNotJSONObject},
		{"trailing garbage", `{"id":"1"}x`, ErrNotJSONObject},
		{"two objects", `{"id":"1"}{"id":"2"}`, ErrNotJSONObject},
		{"non-string key", `{1:"a"}`, ErrNotJSONObject},
		{"single quotes", `{'id':'1'}`, ErrNotJSONObject},
		{"duplicate key", `{"id":"1","id":"2"}`, ErrDuplicateKey},
		{"duplicate key via escape", `{"invoiceId":"123456","invoice\u0049d":"654321"}`, ErrDuplicateKey},
		{"duplicate unknown key", `{"x":1,"x":1}`, ErrDuplicateKey},
		{"cardType and CardType", `{"cardType":"VISA","CardType":"MC"}`, ErrDuplicateKey},
		{"amount object", `{"amount":{"value":1}}`, ErrFieldType},
		{"amount array", `{"amount":[1]}`, ErrFieldType},
		{"amount negative", `{"amount":-1}`, ErrFieldType},
		{"amount exponent", `{"amount":1e3}`, ErrFieldType},
		{"amount three decimals", `{"amount":1.234}`, ErrFieldType},
		{"amount huge", `{"amount":123456789012345678901234567890}`, ErrFieldType},
		{"amount bool", `{"amount":true}`, ErrFieldType},
		{"reasonCode float", `{"reasonCode":4.5}`, ErrFieldType},
		{"reasonCode huge", `{"reasonCode":99999999999999999999}`, ErrFieldType},
		{"reasonCode word", `{"reasonCode":"four"}`, ErrFieldType},
		{"invoiceId object", `{"invoiceId":{"id":"123456"}}`, ErrFieldType},
		{"id array", `{"id":["1"]}`, ErrFieldType},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := DecodeCallback([]byte(tt.body))
			if !errors.Is(err, tt.want) {
				t.Fatalf("DecodeCallback(%s) = %v, %v; want %v", tt.body, c, err, tt.want)
			}
			if c != nil {
				t.Errorf("callback %+v returned with an error", c)
			}
		})
	}
}

func TestDecodeCallbackErrorsAreShort(t *testing.T) {
	long := strings.Repeat("k", 10000)
	for _, body := range []string{
		`{"` + long + `":1,"` + long + `":2}`,
		`{"amount":"` + long + `"}`,
		`{"reasonCode":"` + long + `"}`,
	} {
		_, err := DecodeCallback([]byte(body))
		if err == nil {
			t.Fatalf("no error for %.40s…", body)
		}
		if len(err.Error()) > 200 {
			t.Errorf("error is %d bytes long: outside input must be truncated", len(err.Error()))
		}
	}
}

func TestDecodeCallbackTrimsStringSpace(t *testing.T) {
	c := mustDecode(t, `{"invoiceId":" 123456 ","code":"ok\n"}`)
	if c.InvoiceID != "123456" || c.Code != "ok" {
		t.Errorf("invoiceId, code = %q, %q", c.InvoiceID, c.Code)
	}
}

func TestValidateNamesTheBadField(t *testing.T) {
	tests := []struct {
		body      string
		invoiceOK bool
		idOK      bool
	}{
		{`{"invoiceId":"123456","id":"abc"}`, true, true},
		{`{"id":"abc"}`, false, true},
		{`{"invoiceId":"123456"}`, true, false},
		{`{}`, false, false},
		{`{"invoiceId":"12345a","id":"a b"}`, false, false},
	}
	for _, tt := range tests {
		err := mustDecode(t, tt.body).Validate()
		if got := !errors.Is(err, ErrInvoiceID); got != tt.invoiceOK {
			t.Errorf("%s: invoiceId ok = %v, want %v (%v)", tt.body, got, tt.invoiceOK, err)
		}
		if got := !errors.Is(err, ErrTransactionID); got != tt.idOK {
			t.Errorf("%s: id ok = %v, want %v (%v)", tt.body, got, tt.idOK, err)
		}
	}
}

func TestCallbackSucceeded(t *testing.T) {
	for code, want := range map[string]bool{"ok": true, "OK": true, "error": false, "": false, "okay": false} {
		c := &Callback{Code: code}
		if got := c.Succeeded(); got != want {
			t.Errorf("Succeeded() for code %q = %v, want %v", code, got, want)
		}
	}
}

func TestDecodeCallbackRawIsNotACopy(t *testing.T) {
	raw := []byte(`{"id":"1"}`)
	c, err := DecodeCallback(raw)
	if err != nil {
		t.Fatal(err)
	}
	if &c.Raw[0] != &raw[0] {
		t.Error("Raw should share the caller's buffer, as documented")
	}
	// Extra must not alias the body: the caller may reuse its buffer after publishing.
	raw2 := []byte(`{"x":"abc"}`)
	c2, err := DecodeCallback(raw2)
	if err != nil {
		t.Fatal(err)
	}
	copy(raw2, `{"x":"XXX"}`)
	var s string
	if err := json.Unmarshal(c2.Extra["x"], &s); err != nil || s != "abc" {
		t.Errorf("Extra aliases the body: %q, %v", s, err)
	}
}

// A body nested deeper than jsonscan.MaxDepth is refused as not JSON, saying why; one
// level less is decoded, its deep field kept verbatim.
func TestDecodeCallbackRefusesAbsurdNesting(t *testing.T) {
	deep := func(levels int) string { return strings.Repeat("[", levels) + strings.Repeat("]", levels) }
	ok := deep(jsonscan.MaxDepth - 1) // inside the top-level object: MaxDepth in all
	c := mustDecode(t, `{"invoiceId":"000123","deep":`+ok+`}`)
	if c.InvoiceID != "000123" || string(c.Extra["deep"]) != ok {
		t.Fatalf("%d deep: %+v", jsonscan.MaxDepth, c)
	}
	for _, body := range []string{
		`{"invoiceId":"000123","deep":` + deep(jsonscan.MaxDepth) + `}`,
		`{"deep":` + deep(20000) + `,"invoiceId":"000123"}`,
		`{"id":"1","id":"2","deep":` + deep(jsonscan.MaxDepth) + `}`, // repeated key first: the depth wins
	} {
		c, err := DecodeCallback([]byte(body))
		if c != nil || !errors.Is(err, ErrNotJSONObject) || !errors.Is(err, jsonscan.ErrTooDeep) {
			t.Fatalf("%.40s…: %v, %v", body, c, err)
		}
		if want := "callback body is not a JSON object: JSON nested deeper than 64 levels"; err.Error() != want {
			t.Errorf("error %q, want %q", err, want)
		}
	}
}

// A body that is not JSON is refused as such, in encoding/json's words, whatever else is
// wrong with it before the syntax error (a repeated key, a case variant, a bad field).
func TestDecodeCallbackSyntaxErrorsAreEncodingJSONs(t *testing.T) {
	for _, body := range []string{
		``, `{"id":"1"`, `{"id":"1",}`, `{"id":"1"}x`, `{"id":1.}`, `{"id":tru}`, `{'id':'1'}`, "{\"id\":\"a\x01\"}",
		`{"id":"1","id":"2",}`, `{"InvoiceId":"1",`, `{"amount":"x","id":}`, `{"amount":{},"code":"ok"]`,
	} {
		c, err := DecodeCallback([]byte(body))
		var v json.RawMessage
		want := "callback body is not a JSON object: " + json.Unmarshal([]byte(body), &v).Error()
		if c != nil || !errors.Is(err, ErrNotJSONObject) || err.Error() != want {
			t.Errorf("DecodeCallback(%s) = %v, %v; want %q", body, c, err, want)
		}
		if errors.Is(err, ErrDuplicateKey) || errors.Is(err, ErrCaseVariantKey) || errors.Is(err, ErrFieldType) {
			t.Errorf("DecodeCallback(%s): %v wraps another sentinel too", body, err)
		}
	}
}

// ePay spells invoiceId, cardId and accountId with a capital D in its token request, its
// status and P2P answers: a callback spelled so is read, not refused (a 400 loses the
// callback, and ePay publishes no retry). Both spellings in one body are refused, as
// cardType and CardType are. A descriptive field (3-D Secure, issuer, the payer's place)
// of another type than its own, such as secure3D as an object, as ePay's API answers have
// it, is left empty, the body kept verbatim; a field a decision reads stays strict.
func TestDecodeCallbackReadsEPaysOtherSpellingsAndToleratesDescriptiveFields(t *testing.T) {
	sample := string(mustReadSample(t, "success.json"))
	respell := func(from, to string) string {
		out := strings.Replace(sample, `"`+from+`"`, `"`+to+`"`, 1)
		if out == sample {
			t.Fatalf("the sample has no %q", from)
		}
		return out
	}
	c := mustDecode(t, respell("invoiceId", "invoiceID"))
	if c.InvoiceID != "191111111" || c.Validate() != nil {
		t.Errorf("invoiceID: invoice %q, Validate %v", c.InvoiceID, c.Validate())
	}
	if c := mustDecode(t, respell("cardId", "cardID")); c.CardID != "11f1111b-f151-6f11-e161-1111010a2111" {
		t.Errorf("cardID: %q", c.CardID)
	}
	if c := mustDecode(t, respell("accountId", "accountID")); c.AccountID != "sad12eqsda" {
		t.Errorf("accountID: %q", c.AccountID)
	}
	for _, both := range []string{
		strings.Replace(sample, `"invoiceId"`, `"invoiceID": "999999999", "invoiceId"`, 1),
		strings.Replace(sample, `"cardId"`, `"cardID": "x", "cardId"`, 1),
		strings.Replace(sample, `"accountId"`, `"accountID": "sad12eqsda", "accountId"`, 1),
	} {
		if _, err := DecodeCallback([]byte(both)); !errors.Is(err, ErrDuplicateKey) {
			t.Errorf("both spellings: %v, want ErrDuplicateKey", err)
		}
	}
	if _, err := DecodeCallback([]byte(respell("invoiceId", "INVOICEID"))); !errors.Is(err, ErrCaseVariantKey) {
		t.Errorf("INVOICEID: %v, want ErrCaseVariantKey (not a spelling of ePay's)", err)
	}

	for _, odd := range []string{
		`"secure3D": {"eci": "05", "xid": null}, `,
		`"secure3D": null, "secureDetails": ["F"], `,
		`"issuer": {"name": "JSC KASPI BANK"}, `,
		`"ipLatitude": "north", `,
		`"ipLongitude": 1e999, `,
	} {
		body := strings.Replace(strings.Replace(sample, `"secureDetails":"F", `, ``, 1), `"issuer": "JSC KASPI BANK", `, ``, 1)
		body = strings.Replace(body, `"ipLatitude": 0, "ipLongitude": 0, `, ``, 1)
		body = strings.Replace(body, `{ `, `{ `+odd, 1)
		c, err := DecodeCallback([]byte(body))
		if err != nil {
			t.Errorf("%s: %v, want the callback read", odd, err)
			continue
		}
		if c.Secure3D != "" || c.SecureDetails != "" || c.Issuer != "" || c.IPLatitude != 0 || c.IPLongitude != 0 ||
			c.InvoiceID != "191111111" || c.Amount != 10000 || string(c.Raw) != body {
			t.Errorf("%s: %+v, want the odd field empty and the rest read", odd, c)
		}
	}
	for from, to := range map[string]string{
		`"amount": 100`:               `"amount": {"value": 100}`,
		`"terminal": "67e34d63`:       `"terminal": ["67e34d63"], "was": "67e34d63`,
		`"code": "ok"`:                `"code": {}`,
		`"reasonCode": 0`:             `"reasonCode": "four"`,
		`"cardMask": "440043...2222"`: `"cardMask": {"mask": "440043...2222"}`,
	} {
		body := strings.Replace(sample, from, to, 1)
		if body == sample {
			t.Fatalf("the sample has no %s", from)
		}
		if _, err := DecodeCallback([]byte(body)); !errors.Is(err, ErrFieldType) {
			t.Errorf("%s: %v, want ErrFieldType", to, err)
		}
	}
}
