package sandbox_test

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"regexp"
	"slices"
	"testing"

	"github.com/epayflow/epayflow/internal/sandbox"
)

// statusOf calls the payment status API with a Bearer token.
func statusOf(t *testing.T, h *harness, token, invoiceID string) (int, map[string]any) {
	t.Helper()
	return getJSON(t, h.url+"/check-status/payment/transaction/"+invoiceID, token)
}

// p2pStatusOf calls the P2P status API with a Bearer token.
func p2pStatusOf(t *testing.T, h *harness, token, order string) (int, map[string]any) {
	t.Helper()
	return getJSON(t, h.url+"/check-status/p2p/transaction/"+order, token)
}

func getJSON(t *testing.T, url, token string) (int, map[string]any) {
	t.Helper()
	status, raw := getRaw(t, url, token)
	var body map[string]any
	json.Unmarshal(raw, &body)
	return status, body
}

func getRaw(t *testing.T, url, token string) (int, []byte) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, url, nil)
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, raw
}

// statusTxnKeys are the fields of the transaction object of ePay's documented status
// answer, in its order.
var statusTxnKeys = []string{
	"id", "createdDate", "invoiceID", "amount", "amountBonus", "payoutAmount", "orgAmount", "approvalCode",
	"data", "currency", "terminal", "terminalID", "accountID", "description", "language", "cardMask",
	"cardType", "issuer", "reference", "intReference", "secure", "statusID", "statusName", "reason",
	"reasonCode", "name", "email", "phone", "cardID", "ip",
}

var (
	processingTerminalRe = regexp.MustCompile(`^\d{8}$`)
	createdDateRe        = regexp.MustCompile(`^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}\+05:00$`)
	intTextRe            = regexp.MustCompile(`^-?\d+$`)
)

// objectKeys returns the keys of the JSON object found by following path from raw's
// top-level object, in the order they were sent.
func objectKeys(t *testing.T, raw []byte, path ...string) []string {
	t.Helper()
	for _, p := range path {
		var m map[string]json.RawMessage
		if err := json.Unmarshal(raw, &m); err != nil {
			t.Fatalf("%s: %v in %s", p, err, raw)
		}
		raw = m[p]
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	if tok, err := dec.Token(); err != nil || tok != json.Delim('{') {
		t.Fatalf("%v is not an object: %s", path, raw)
	}
	var keys []string
	for dec.More() {
		k, err := dec.Token()
		if err != nil {
			t.Fatal(err)
		}
		keys = append(keys, k.(string))
		var skip json.RawMessage
		if err := dec.Decode(&skip); err != nil {
			t.Fatal(err)
		}
	}
	return keys
}

// checkStatusTxn checks that the transaction object at path of a status answer has
// exactly the documented keys, in order, with the documented types and formats.
func checkStatusTxn(t *testing.T, raw []byte, path ...string) map[string]any {
	t.Helper()
	if keys := objectKeys(t, raw, path...); !slices.Equal(keys, statusTxnKeys) {
		t.Errorf("transaction keys\n got %v\nwant %v", keys, statusTxnKeys)
	}
	var v any
	json.Unmarshal(raw, &v)
	for _, p := range path {
		v = v.(map[string]any)[p]
	}
	tx := v.(map[string]any)
	for _, k := range statusTxnKeys {
		want := "string"
		switch k {
		case "amount", "amountBonus", "payoutAmount", "orgAmount":
			want = "number"
		case "secure":
			want = "boolean"
		}
		if got := jsonKind(tx[k]); got != want {
			t.Errorf("transaction.%s is a %s (%#v), want a %s", k, got, tx[k], want)
		}
	}
	str := func(k string) string { s, _ := tx[k].(string); return s }
	checks := map[string]bool{
		"id is a UUID":                          uuidRe.MatchString(str("id")),
		"statusID is a UUID":                    uuidRe.MatchString(str("statusID")),
		"cardID is a UUID":                      uuidRe.MatchString(str("cardID")),
		"terminal is ePay's 8 digits":           processingTerminalRe.MatchString(str("terminal")),
		"terminalID is the merchant's terminal": str("terminalID") == sandbox.TestTerminal,
		"data is a JSON-encoded string":         json.Valid([]byte(str("data"))),
		"reasonCode is an integer as a string":  intTextRe.MatchString(str("reasonCode")),
		"createdDate is RFC 3339 with µs":       createdDateRe.MatchString(str("createdDate")),
		"secure is false":                       tx["secure"] == false,
	}
	for what, ok := range checks {
		if !ok {
			t.Errorf("%s: %s", what, raw)
		}
	}
	return tx
}

func TestPaymentStatusHasTheDocumentedShape(t *testing.T) {
	h := startSandbox(t, nil)
	rc := newReceiver(t)
	h.pay(t, "110000011", rc.URL+"/post", "", "4405639704015096", "01/27", "321")
	svc := h.mustToken(t, serviceForm())["access_token"].(string)
	status, raw := getRaw(t, h.url+"/check-status/payment/transaction/110000011", svc)
	if status != 200 {
		t.Fatalf("status %d %s", status, raw)
	}
	if keys := objectKeys(t, raw); !slices.Equal(keys, []string{"resultCode", "resultMessage", "transaction"}) {
		t.Errorf("answer keys %v, want resultCode, resultMessage, transaction", keys)
	}
	var body map[string]any
	json.Unmarshal(raw, &body)
	if body["resultCode"] != "100" || body["resultMessage"] != "SUCCESS" {
		t.Errorf("resultCode %#v resultMessage %#v, want \"100\" \"SUCCESS\"", body["resultCode"], body["resultMessage"])
	}
	tx := checkStatusTxn(t, raw, "transaction")
	want := map[string]any{
		"invoiceID": "110000011", "amount": float64(100), "orgAmount": float64(100), "payoutAmount": float64(0),
		"amountBonus": float64(0), "currency": "KZT", "cardMask": "440563...5096", "cardType": "VISA",
		"statusName": "CHARGE", "reasonCode": "0", "reason": "success", "data": "{}", "name": "TEST HOLDER",
		"accountID": "testuser1", "email": "example@example.com", "phone": "77777777777",
	}
	for k, v := range want {
		if tx[k] != v {
			t.Errorf("transaction.%s = %#v, want %#v", k, tx[k], v)
		}
	}
	for _, k := range []string{"approvalCode", "reference"} {
		if tx[k] == "" {
			t.Errorf("transaction.%s is empty for an approved payment", k)
		}
	}
}

func TestP2PStatusHasTheDocumentedShape(t *testing.T) {
	h := startSandbox(t, nil)
	rc := newReceiver(t)
	h.pay(t, "130000011", rc.URL+"/post", "", "4405639704015096", "01/27", "321")
	h.pay(t, "130000012", rc.URL+"/post", "", "4003032704547597", "01/27", "123")
	svc := h.mustToken(t, serviceForm())["access_token"].(string)

	status, raw := getRaw(t, h.url+"/check-status/p2p/transaction/130000011", svc)
	if status != 200 {
		t.Fatalf("status %d %s", status, raw)
	}
	if keys := objectKeys(t, raw); !slices.Equal(keys, []string{"result", "transaction"}) {
		t.Errorf("answer keys %v, want result, transaction", keys)
	}
	if keys := objectKeys(t, raw, "result"); !slices.Equal(keys, []string{"code", "message"}) {
		t.Errorf("result keys %v, want code, message", keys)
	}
	if keys := objectKeys(t, raw, "transaction"); !slices.Equal(keys, []string{"p2p"}) {
		t.Errorf("transaction keys %v, want p2p", keys)
	}
	var body struct {
		Result struct{ Code, Message any }
	}
	json.Unmarshal(raw, &body)
	if body.Result.Code != "100" || body.Result.Message != "SUCCESS" {
		t.Errorf("result %+v, want code \"100\" message \"SUCCESS\"", body.Result)
	}
	tx := checkStatusTxn(t, raw, "transaction", "p2p")
	if tx["invoiceID"] != "130000011" || tx["statusName"] != "CHARGE" || tx["amount"] != float64(100) {
		t.Errorf("p2p transaction %v, want invoice 130000011 CHARGE 100", tx)
	}

	_, raw = getRaw(t, h.url+"/check-status/p2p/transaction/130000012", svc)
	tx = checkStatusTxn(t, raw, "transaction", "p2p")
	json.Unmarshal(raw, &body)
	if body.Result.Code != "101" || tx["statusName"] != "REJECT" || tx["reasonCode"] != "465" {
		t.Errorf("p2p status of a decline: %s, want code 101, REJECT, 465", raw)
	}

	_, raw = getRaw(t, h.url+"/api/check-status/p2p/transaction/130000019", svc)
	if keys := objectKeys(t, raw); !slices.Equal(keys, []string{"result"}) {
		t.Errorf("p2p status of an unknown order: keys %v, want only result: %s", keys, raw)
	}
	json.Unmarshal(raw, &body)
	if body.Result.Code != "102" {
		t.Errorf("p2p status of an unknown order under /api: %s, want code 102", raw)
	}
}

func TestStatusAfterSuccessAndAfterDecline(t *testing.T) {
	h := startSandbox(t, nil)
	rc := newReceiver(t)
	h.pay(t, "110000001", rc.URL+"/post", "", "4405639704015096", "01/27", "321")
	h.pay(t, "110000002", rc.URL+"/post", "", "4003032704547597", "01/27", "123")
	svc := h.mustToken(t, serviceForm())["access_token"].(string)

	status, body := statusOf(t, h, svc, "110000001")
	tx, _ := body["transaction"].(map[string]any)
	if status != 200 || body["resultCode"] != "100" || tx == nil {
		t.Fatalf("after success: %d %v, want resultCode \"100\" with a transaction", status, body)
	}
	want := map[string]any{
		"invoiceID": "110000001", "amount": float64(100), "currency": "KZT", "terminalID": sandbox.TestTerminal,
		"cardMask": "440563...5096", "statusName": "CHARGE", "reasonCode": "0", "secure": false,
	}
	for k, v := range want {
		if tx[k] != v {
			t.Errorf("after success: transaction.%s = %#v, want %#v", k, tx[k], v)
		}
	}
	if id, _ := tx["id"].(string); !uuidRe.MatchString(id) {
		t.Errorf("transaction id %q is not the callback's kind of id", id)
	}
	if ds := h.sb.Deliveries("110000001"); len(ds) != 1 || ds[0].TransactionID != tx["id"] {
		t.Errorf("status transaction id %v is not the callback's %+v", tx["id"], ds)
	}
	terminal := tx["terminal"]

	status, body = statusOf(t, h, svc, "110000002")
	tx, _ = body["transaction"].(map[string]any)
	if status != 200 || body["resultCode"] != "101" || tx == nil || tx["statusName"] != "REJECT" || tx["reasonCode"] != "465" {
		t.Fatalf("after decline: %d %v, want resultCode \"101\", REJECT, reasonCode \"465\"", status, body)
	}
	if tx["amount"] != float64(0) || tx["orgAmount"] != float64(100) || tx["payoutAmount"] != float64(0) || tx["approvalCode"] != "" {
		t.Errorf("after decline: amount %v orgAmount %v payoutAmount %v approvalCode %q, want 0, 100, 0, empty",
			tx["amount"], tx["orgAmount"], tx["payoutAmount"], tx["approvalCode"])
	}
	if tx["terminal"] != terminal {
		t.Errorf("processing terminal %v, then %v: want one per merchant terminal", terminal, tx["terminal"])
	}
}

func TestProcessingTerminalIsStablePerMerchantTerminal(t *testing.T) {
	const second = "11111111-2222-3333-4444-555555555555"
	terminals := map[string]any{}
	for run := range 2 { // two sandboxes: the number depends on the terminal only
		h := startSandbox(t, func(c *sandbox.Config) { c.Terminals = []string{sandbox.TestTerminal, second} })
		rc := newReceiver(t)
		for i, term := range []string{sandbox.TestTerminal, second} {
			invoiceID := []string{"190000001", "190000002"}[i]
			f := h.tokenForm(invoiceID, "100", rc.URL+"/post", rc.URL+"/fail")
			f.Set("terminal", term)
			auth := h.mustToken(t, f)
			obj := paymentObject(auth, invoiceID, 100, "http://shop.test/ok", "")
			obj["terminal"] = term
			_, page, session := h.openForm(t, obj)
			if session == "" {
				t.Fatalf("form of terminal %s: %s", term, page)
			}
			h.submitCard(t, session, "4405639704015096", "01/27", "321")
			svc := h.mustToken(t, with(serviceForm(), "terminal", term))["access_token"].(string)
			_, body := statusOf(t, h, svc, invoiceID)
			tx, _ := body["transaction"].(map[string]any)
			if tx == nil || tx["terminalID"] != term || !processingTerminalRe.MatchString(tx["terminal"].(string)) {
				t.Fatalf("run %d terminal %s: %v", run, term, body)
			}
			if prev, ok := terminals[term]; ok && prev != tx["terminal"] {
				t.Errorf("terminal %s: processing terminal %v, then %v", term, prev, tx["terminal"])
			}
			terminals[term] = tx["terminal"]
		}
	}
	if terminals[sandbox.TestTerminal] == terminals[second] {
		t.Errorf("two merchant terminals share the processing terminal %v", terminals[second])
	}
}

func TestStatusAmountsFollowTheOperations(t *testing.T) {
	type step struct {
		op                            string // path after /operation/{id}, "" for the state after paying
		statusName                    string
		amount, orgAmount, payoutAmnt float64
	}
	cases := []struct {
		name    string
		twoStep bool
		steps   []step
	}{
		{"partial refunds, then the rest", false, []step{
			{"", "CHARGE", 100, 100, 0},
			{"/refund?amount=30", "CHARGE", 70, 100, 30},
			{"/refund?amount=12.5", "CHARGE", 57.5, 100, 42.5},
			{"/refund", "REFUND", 0, 100, 100},
		}},
		{"partial charge, then a partial refund", true, []step{
			{"", "AUTH", 100, 100, 0},
			{"/charge?amount=60", "CHARGE", 60, 100, 0},
			{"/refund?amount=10", "CHARGE", 50, 100, 10},
		}},
		{"cancel", true, []step{
			{"", "AUTH", 100, 100, 0},
			{"/cancel", "CANCEL", 0, 100, 0},
		}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			h := startSandbox(t, func(cfg *sandbox.Config) { cfg.TwoStep = c.twoStep })
			rc := newReceiver(t)
			h.pay(t, "140000011", rc.URL+"/post", "", "4405639704015096", "01/27", "321")
			svc := h.mustToken(t, serviceForm())["access_token"].(string)
			_, body := statusOf(t, h, svc, "140000011")
			id := body["transaction"].(map[string]any)["id"].(string)
			for i, s := range c.steps {
				if s.op != "" {
					if got := operate(t, h, svc, id+s.op); got.status != 200 {
						t.Fatalf("step %d %s: %+v", i+1, s.op, got)
					}
				}
				_, raw := getRaw(t, h.url+"/check-status/payment/transaction/140000011", svc)
				tx := checkStatusTxn(t, raw, "transaction")
				got := step{s.op, tx["statusName"].(string), tx["amount"].(float64), tx["orgAmount"].(float64), tx["payoutAmount"].(float64)}
				if got != s {
					t.Fatalf("step %d %s: got %+v, want %+v", i+1, s.op, got, s)
				}
				_, p2p := p2pStatusOf(t, h, svc, "140000011")
				if ptx := p2p["transaction"].(map[string]any)["p2p"].(map[string]any); ptx["amount"] != tx["amount"] || ptx["payoutAmount"] != tx["payoutAmount"] {
					t.Errorf("step %d: the P2P route says amount %v payoutAmount %v, the payment route %v %v",
						i+1, ptx["amount"], ptx["payoutAmount"], tx["amount"], tx["payoutAmount"])
				}
			}
		})
	}
}

func TestStatusResultCodes(t *testing.T) {
	h := startSandbox(t, func(c *sandbox.Config) {
		c.Terminals = []string{sandbox.TestTerminal, "11111111-2222-3333-4444-555555555555"}
		c.ServiceTerminalOptional = true
	})
	rc := newReceiver(t)
	h.pay(t, "120000001", rc.URL+"/post", "", "4405639704015096", "01/27", "321")
	svc := h.mustToken(t, serviceForm())["access_token"].(string)
	other := h.mustToken(t, with(serviceForm(), "terminal", "11111111-2222-3333-4444-555555555555"))["access_token"].(string)
	noTerminal := h.mustToken(t, without(serviceForm(), "terminal"))["access_token"].(string)
	payment := h.mustToken(t, h.tokenForm("120000009", "100", rc.URL, rc.URL))["access_token"].(string)
	cases := []struct {
		name, token, invoice string
		status               int
		resultCode           string
	}{
		{"found", svc, "120000001", 200, "100"},
		{"not found", svc, "120000002", 200, "102"},
		{"token without terminal", noTerminal, "120000001", 200, "104"},
		{"token of another terminal", other, "120000001", 200, "106"},
		{"payment token is not a service token", payment, "120000001", 401, ""},
		{"unknown token", "NOPE", "120000001", 401, ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			status, body := statusOf(t, h, c.token, c.invoice)
			if status != c.status || c.resultCode != "" && body["resultCode"] != c.resultCode {
				t.Fatalf("got %d %v, want %d resultCode %q", status, body, c.status, c.resultCode)
			}
			if c.status == 401 && body["code"] == nil {
				t.Errorf("401 body %v lacks code/message", body)
			}
			if c.status == 200 && c.resultCode != "100" && body["transaction"] != nil {
				t.Errorf("resultCode %s with a transaction: %v", c.resultCode, body)
			}
			_, p2p := p2pStatusOf(t, h, c.token, c.invoice)
			if result, _ := p2p["result"].(map[string]any); c.status == 200 && result["code"] != c.resultCode {
				t.Errorf("P2P route: %v, want code %s", p2p, c.resultCode)
			}
		})
	}
}
