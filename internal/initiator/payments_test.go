package initiator

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"reflect"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/epayflow/epayflow/internal/inbox"
	"github.com/epayflow/epayflow/internal/invoice"
	"github.com/epayflow/epayflow/internal/natsbus"
)

// sourceRequest is the source document's example as a POST /v1/payments body.
const sourceRequest = `{
  "kind": "payment",
  "amount": 100,
  "currency": "KZT",
  "description": "Payment in the online store",
  "accountId": "testuser1",
  "phone": "77777777777",
  "email": "example@example.com",
  "language": "RU",
  "cardSave": true,
  "backLink": "https://example.kz/success.html",
  "failureBackLink": "https://example.kz/failure.html"
}`

// sourcePaymentObject is the source document's paymentObject (with auth set), in its
// field order, plus name (docs/EPAY.md). Placeholders: invoiceId and postLink/failurePostLink
// point at this deployment; language is normalised.
const sourcePaymentObject = `{
  "invoiceId": "INVOICE_ID",
  "backLink": "https://example.kz/success.html",
  "failureBackLink": "https://example.kz/failure.html",
  "postLink": "https://ingest.example.kz/epay/postlink",
  "failurePostLink": "https://ingest.example.kz/epay/failure-postlink",
  "language": "rus",
  "description": "Payment in the online store",
  "accountId": "testuser1",
  "terminal": "67e34d63-102f-4bd1-898e-370781d0074d",
  "amount": 100,
  "currency": "KZT",
  "phone": "77777777777",
  "email": "example@example.com",
  "name": "",
  "cardSave": true,
  "auth": {"access_token":"DCEB8O_ZM5U7SO_T_U5EJQ","expires_in": 7200,"refresh_token":"","scope":"payment","token_type":"Bearer"}
}`

// decodeOrdered decodes JSON keeping numbers as json.Number, and returns the top-level
// keys in document order.
func decodeOrdered(t *testing.T, b []byte) (map[string]any, []string) {
	t.Helper()
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	var m map[string]any
	if err := dec.Decode(&m); err != nil {
		t.Fatalf("not a JSON object: %s", b)
	}
	dec = json.NewDecoder(bytes.NewReader(b))
	dec.Token()
	var keys []string
	for dec.More() {
		k, _ := dec.Token()
		keys = append(keys, k.(string))
		var skip json.RawMessage
		dec.Decode(&skip)
	}
	return m, keys
}

// recorderWithHook runs check when the handler starts writing its answer.
type recorderWithHook struct {
	*httptest.ResponseRecorder
	once  sync.Once
	check func()
}

func (r *recorderWithHook) WriteHeader(code int) {
	r.once.Do(r.check)
	r.ResponseRecorder.WriteHeader(code)
}

func (r *recorderWithHook) Write(b []byte) (int, error) {
	r.once.Do(r.check)
	return r.ResponseRecorder.Write(b)
}

func TestCreatePaymentReturnsTheSourceDocumentsPaymentObjectAfterPublishing(t *testing.T) {
	e := startEnv(t, answerWith(200, tokenAnswer), true)

	// Look at the stream at the moment the handler starts its answer.
	var atAnswer *jetstream.RawStreamMsg
	var atAnswerErr error
	rec := &recorderWithHook{ResponseRecorder: httptest.NewRecorder(), check: func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		s, err := e.js.Stream(ctx, natsbus.StreamInbox)
		if err == nil {
			atAnswer, atAnswerErr = s.GetMsg(ctx, 1)
		} else {
			atAnswerErr = err
		}
	}}
	req := httptest.NewRequest(http.MethodPost, "/v1/payments", strings.NewReader(sourceRequest))
	req.Header.Set("Authorization", "Bearer "+testAPIKey)
	e.handler.ServeHTTP(rec, req)

	if rec.Code != http.StatusCreated {
		t.Fatalf("status %d: %s", rec.Code, rec.Body)
	}
	var created struct {
		InvoiceID     string          `json:"invoiceId"`
		PaymentObject json.RawMessage `json:"paymentObject"`
		PayformJSURL  string          `json:"payformJsUrl"`
	}
	if err := json.Unmarshal(rec.Body.Bytes(), &created); err != nil {
		t.Fatal(err)
	}
	id := created.InvoiceID
	if created.PayformJSURL != testPayform {
		t.Fatalf("payformJsUrl %q", created.PayformJSURL)
	}

	// The payment object: same fields, order, types and values as the document's.
	want, wantKeys := decodeOrdered(t, []byte(strings.Replace(sourcePaymentObject, "INVOICE_ID", id, 1)))
	got, gotKeys := decodeOrdered(t, created.PaymentObject)
	if !reflect.DeepEqual(gotKeys, wantKeys) {
		t.Fatalf("fields\n got %v\nwant %v", gotKeys, wantKeys)
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("payment object\n got %s\nwant %s", created.PaymentObject, sourcePaymentObject)
	}
	if _, isString := got["invoiceId"].(string); !isString {
		t.Fatal("invoiceId is not a string")
	}
	if _, isNumber := got["amount"].(json.Number); !isNumber {
		t.Fatal("amount is not a JSON number")
	}
	if got["cardSave"] != true {
		t.Fatal("cardSave is not the boolean true")
	}

	// invoice.created was in the stream before the first byte of the answer.
	if atAnswerErr != nil {
		t.Fatalf("no invoice.created in the stream when the answer started: %v", atAnswerErr)
	}
	if want := inbox.Subject(inbox.Shard(id, testShards), inbox.KindInvoice); atAnswer.Subject != want {
		t.Fatalf("published to %s, want %s", atAnswer.Subject, want)
	}
	if h, want := atAnswer.Header.Get(jetstream.MsgIDHeader), inbox.CreatedNatsMsgID(e.keyring, id); h != want {
		t.Fatalf("Nats-Msg-Id %q, want %q", h, want)
	}
	// signed with EPAY_SECRET_KEYS: the worker's decoder takes it
	if err := inbox.CheckCreated(e.keyring, atAnswer.Subject, atAnswer.Data, atAnswer.Header.Get(inbox.HeaderCreatedSignature)); err != nil {
		t.Fatalf("invoice.created: %v", err)
	}
	var msg invoice.Created
	if err := json.Unmarshal(atAnswer.Data, &msg); err != nil {
		t.Fatal(err)
	}
	if msg.InvoiceID != id || msg.Kind != KindPayment || msg.Amount != 10000 || msg.Currency != "KZT" ||
		msg.Terminal != testTerminal || msg.AccountID != "testuser1" || msg.Description != "Payment in the online store" ||
		time.Since(msg.CreatedAt) > time.Minute {
		t.Fatalf("invoice.created %+v", msg)
	}

	// The token request was scope=payment with this invoice and its secret_hash.
	forms := e.epay.requests()
	if len(forms) != 1 {
		t.Fatalf("%d token requests", len(forms))
	}
	f := forms[0]
	wantForm := map[string]string{
		"grant_type": "client_credentials", "scope": "payment", "client_id": "test",
		"client_secret": string(TestClientSecret), "terminal": testTerminal, "invoiceID": id,
		"secret_hash": e.keyring.Sign(testTerminal, id), "amount": "100", "currency": "KZT",
		"postLink": testBaseURL + "/epay/postlink", "failurePostLink": testBaseURL + "/epay/failure-postlink",
	}
	if len(f) != len(wantForm) {
		t.Fatalf("token form %v", f)
	}
	for k, v := range wantForm {
		if f.Get(k) != v {
			t.Fatalf("token form %s = %q, want %q", k, f.Get(k), v)
		}
	}
	if err := e.keyring.Verify(testTerminal, id, f.Get("secret_hash")); err != nil {
		t.Fatalf("the ingest would refuse this secret_hash: %v", err)
	}
}

func TestCreateP2PAsksForATransferTokenAndDefaultsTheReturnLinks(t *testing.T) {
	e := startEnv(t, answerWith(200, `{"access_token":"P2P_TOKEN_123","expires_in":"1200","refresh_token":"","scope":"transfer","token_type":"Bearer"}`), true)
	rec := e.post(t, `{"kind":"p2p","amount":"12.5","currency":"kzt","description":"Перевод","language":"KZ","cardSave":false}`)
	if rec.Code != http.StatusCreated {
		t.Fatalf("status %d: %s", rec.Code, rec.Body)
	}
	var c Created
	json.Unmarshal(rec.Body.Bytes(), &c)
	po, keys := decodeOrdered(t, rec.Body.Bytes())
	_ = keys
	obj := po["paymentObject"].(map[string]any)
	id := c.InvoiceID
	checks := map[string]any{
		"amount": json.Number("12.5"), "currency": "KZT", "language": "kaz", "cardSave": false,
		"backLink":        "https://shop.example.kz/return/success?invoiceId=" + id + "&token=" + e.svc.ReturnToken(id),
		"failureBackLink": "https://shop.example.kz/return/failure?invoiceId=" + id + "&token=" + e.svc.ReturnToken(id),
	}
	for k, v := range checks {
		if obj[k] != v {
			t.Fatalf("%s = %#v, want %#v", k, obj[k], v)
		}
	}
	if auth := obj["auth"].(map[string]any); auth["expires_in"] != "1200" || auth["scope"] != "transfer" {
		t.Fatalf("auth not verbatim: %v", auth)
	}
	f := e.epay.requests()[0]
	if f.Get("scope") != "transfer" || f.Get("secret_hash") != e.keyring.Sign(testTerminal, id) || len(f) != 6 {
		t.Fatalf("transfer token form %v: want the six fields of the source document", f)
	}
}

func TestInvalidPaymentRequestsListEveryProblemByField(t *testing.T) {
	e := startEnv(t, answerWith(200, tokenAnswer), true)
	tests := []struct {
		name string
		body string
		want string
	}{
		{"not JSON", `amount=100`, `{"error":"invalid request","fields":{"body":"must be one JSON object"}}`},
		{"two objects", `{}{}`, `{"error":"invalid request","fields":{"body":"must be one JSON object"}}`},
		{"empty object", `{}`, `{"error":"invalid request","fields":{"amount":"required","currency":"required","description":"required","kind":"required"}}`},
		{
			"every field wrong at once",
			`{"kind":"refund","amount":-5,"currency":"BTC","description":"","accountId":7,"email":"not-an-email","phone":"87771234567",` +
				`"language":"de","name":true,"cardSave":"yes","backLink":"/relative","failureBackLink":"ftp://x.kz/f","invoiceId":"1"}`,
			`{"error":"invalid request","fields":{"accountId":"must be a string","amount":"must be a number greater than 0 with at most 2 decimals",` +
				`"backLink":"must be an absolute http(s) URL","cardSave":"must be true or false","currency":"must be one of KZT, USD, EUR, RUB",` +
				`"description":"must be a non-empty string","email":"must be an email address such as name@example.kz",` +
				`"failureBackLink":"must be an absolute http(s) URL","invoiceId":"unknown field","kind":"must be \"payment\" or \"p2p\"",` +
				`"language":"must be rus, kaz or eng (RU, RUS, KZ, KAZ, EN, ENG also accepted)","name":"must be a string",` +
				`"phone":"must be 11 digits starting with 7, such as 77771234567"}}`,
		},
		{"amount zero", `{"kind":"payment","amount":0,"currency":"KZT","description":"x"}`,
			`{"error":"invalid request","fields":{"amount":"must be a number greater than 0 with at most 2 decimals"}}`},
		{"amount with three decimals", `{"kind":"payment","amount":12.345,"currency":"KZT","description":"x"}`,
			`{"error":"invalid request","fields":{"amount":"must be a number greater than 0 with at most 2 decimals"}}`},
		{"amount as exponent", `{"kind":"payment","amount":1e3,"currency":"KZT","description":"x"}`,
			`{"error":"invalid request","fields":{"amount":"must be a number greater than 0 with at most 2 decimals"}}`},
		{"Latin description over 125", `{"kind":"payment","amount":1,"currency":"KZT","description":"` + strings.Repeat("a", 126) + `"}`,
			`{"error":"invalid request","fields":{"description":"must be at most 125 characters (has 126)"}}`},
		{"Cyrillic description over 62", `{"kind":"payment","amount":1,"currency":"KZT","description":"` + strings.Repeat("я", 63) + `"}`,
			`{"error":"invalid request","fields":{"description":"must be at most 62 characters when it contains Cyrillic or other non-Latin letters (has 63)"}}`},
		{"mixed description over 62", `{"kind":"payment","amount":1,"currency":"KZT","description":"Order ` + strings.Repeat("ж", 57) + `"}`,
			`{"error":"invalid request","fields":{"description":"must be at most 62 characters when it contains Cyrillic or other non-Latin letters (has 63)"}}`},
		{"phone too short", `{"kind":"payment","amount":1,"currency":"KZT","description":"x","phone":"7777"}`,
			`{"error":"invalid request","fields":{"phone":"must be 11 digits starting with 7, such as 77771234567"}}`},
		{"email with a display name", `{"kind":"payment","amount":1,"currency":"KZT","description":"x","email":"Bob <bob@example.kz>"}`,
			`{"error":"invalid request","fields":{"email":"must be an email address such as name@example.kz"}}`},
		{"cardSave as a string", `{"kind":"payment","amount":1,"currency":"KZT","description":"x","cardSave":"true"}`,
			`{"error":"invalid request","fields":{"cardSave":"must be true or false"}}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rec := e.post(t, tt.body)
			if rec.Code != http.StatusBadRequest {
				t.Fatalf("status %d, want 400: %s", rec.Code, rec.Body)
			}
			if got := strings.TrimSpace(rec.Body.String()); got != tt.want {
				t.Fatalf("body\n got %s\nwant %s", got, tt.want)
			}
		})
	}
	if n := len(e.epay.requests()); n != 0 {
		t.Fatalf("%d token requests for invalid payments", n)
	}
	if n := e.inboxMessages(t); n != 0 {
		t.Fatalf("%d messages published for invalid payments", n)
	}
}

func TestPaymentsNeedAKnownBearerKey(t *testing.T) {
	e := startEnv(t, answerWith(200, tokenAnswer), true)
	const want = `{"error":"missing or unknown API key: send Authorization: Bearer \u003ckey\u003e"}`
	for name, auth := range map[string]string{
		"no header":     "",
		"wrong key":     "Bearer merchant-key-0123456780",
		"key as prefix": "Bearer " + testAPIKey + "x",
		"basic scheme":  "Basic " + testAPIKey,
		"bearer no key": "Bearer ",
		"key alone":     testAPIKey,
	} {
		t.Run(name, func(t *testing.T) {
			rec := e.do(t, http.MethodPost, "/v1/payments", sourceRequest, auth)
			if rec.Code != http.StatusUnauthorized || strings.TrimSpace(rec.Body.String()) != want {
				t.Fatalf("status %d body %s", rec.Code, rec.Body)
			}
			if rec.Header().Get("WWW-Authenticate") == "" {
				t.Fatal("no WWW-Authenticate")
			}
		})
	}
	if rec := e.do(t, http.MethodPost, "/v1/payments", sourceRequest, "bearer "+testShopKey); rec.Code != http.StatusCreated {
		t.Fatalf("second key, lower-case scheme: status %d %s", rec.Code, rec.Body)
	}
}

func TestEPayFailuresAnswer502Or504AndPublishNothing(t *testing.T) {
	tests := []struct {
		name   string
		answer http.HandlerFunc
		status int
		want   string
	}{
		{"ePay refuses the request", answerWith(400, `{"code":"101","message":"invalid terminal"}`), 502,
			`{"error":"ePay refused or failed the token request; nothing was created: epay: HTTP 400 101: invalid terminal","cause":"rejected"}`},
		{"ePay refuses the credentials", answerWith(401, `{"error":"invalid_client"}`), 502,
			`{"error":"ePay refused or failed the token request; nothing was created: the merchant credentials were refused","cause":"unauthorized"}`},
		{"ePay is down", answerWith(503, `down`), 502,
			`{"error":"ePay refused or failed the token request; nothing was created: ePay is unavailable","cause":"unavailable"}`},
		{"ePay answers garbage", answerWith(200, `<html>`), 502,
			`{"error":"ePay refused or failed the token request; nothing was created: ePay's answer was malformed","cause":"bad_response"}`},
		{"ePay hangs", hang, 504,
			`{"error":"ePay did not answer the token request in time; nothing was created, retry later","cause":"timeout"}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := startEnv(t, tt.answer, true)
			rec := e.post(t, sourceRequest)
			if rec.Code != tt.status || strings.TrimSpace(rec.Body.String()) != tt.want {
				t.Fatalf("status %d body %s\nwant %d %s", rec.Code, rec.Body, tt.status, tt.want)
			}
			if n := e.inboxMessages(t); n != 0 {
				t.Fatalf("%d messages published although ePay failed", n)
			}
			if strings.Contains(e.logs.String(), string(TestClientSecret)) {
				t.Fatal("the client secret is in the logs")
			}
		})
	}
}

func TestNATSDownOrNoStreamAnswers503(t *testing.T) {
	const want = `{"error":"payment could not be recorded (message bus unavailable); nothing was created, retry later"}`
	t.Run("no stream to publish to", func(t *testing.T) {
		e := startEnv(t, answerWith(200, tokenAnswer), false)
		rec := e.post(t, sourceRequest)
		if rec.Code != http.StatusServiceUnavailable || strings.TrimSpace(rec.Body.String()) != want {
			t.Fatalf("status %d body %s", rec.Code, rec.Body)
		}
	})
	t.Run("NATS stopped", func(t *testing.T) {
		e := startEnv(t, answerWith(200, tokenAnswer), true)
		e.nats.Stop()
		rec := e.post(t, sourceRequest)
		if rec.Code != http.StatusServiceUnavailable || strings.TrimSpace(rec.Body.String()) != want {
			t.Fatalf("status %d body %s", rec.Code, rec.Body)
		}
		if n := len(e.epay.requests()); n != 0 {
			t.Fatalf("%d token requests while no invoiceId could be allocated", n)
		}
	})
}

func TestConcurrentPaymentsGetDistinctInvoiceIDs(t *testing.T) {
	e := startEnv(t, answerWith(200, tokenAnswer), true)
	const n = 40
	ids := make([]string, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			rec := e.post(t, sourceRequest)
			if rec.Code != http.StatusCreated {
				t.Errorf("status %d: %s", rec.Code, rec.Body)
				return
			}
			var c Created
			json.Unmarshal(rec.Body.Bytes(), &c)
			ids[i] = c.InvoiceID
		})
	}
	wg.Wait()
	sort.Strings(ids)
	for i := 1; i < n; i++ {
		if ids[i] == ids[i-1] || ids[i][len(ids[i])-6:] == ids[i-1][len(ids[i-1])-6:] {
			t.Fatalf("repeated id or last 6 digits: %s %s", ids[i-1], ids[i])
		}
	}
	if got := e.inboxMessages(t); got != n {
		t.Fatalf("%d invoice.created messages, want %d", got, n)
	}
}

// A payment whose making takes longer than the server's write timeout (a slow ePay, an
// idempotency record held by another request) is still answered: before, the merchant got
// a broken connection for an invoice that was made.
func TestASlowPaymentIsStillAnswered(t *testing.T) {
	slow := func(w http.ResponseWriter, r *http.Request) {
		time.Sleep(120 * time.Millisecond) // within the tests' ePay timeout (150 ms)
		answerWith(200, tokenAnswer)(w, r)
	}
	e := startEnv(t, slow, true)
	srv := httptest.NewUnstartedServer(e.handler)
	srv.Config.WriteTimeout = 60 * time.Millisecond // production's is 15 s (httpserver)
	srv.Start()
	t.Cleanup(srv.Close)
	resp, body, err := tryCall(http.MethodPost, srv.URL+"/v1/payments", sourceRequest, "Authorization", "Bearer "+testAPIKey,
		"Content-Type", "application/json")
	if err != nil || resp.StatusCode != http.StatusCreated || !strings.Contains(body, `"invoiceId"`) {
		t.Fatalf("a payment made in more than the write timeout: %v %v %s, want 201 with the invoice", err, resp, body)
	}
}
