package sandbox_test

import (
	"encoding/json"
	"net/http"
	"testing"

	"github.com/epayflow/epayflow/internal/sandbox"
)

// statusOf calls the payment status API with a Bearer token.
func statusOf(t *testing.T, h *harness, token, invoiceID string) (int, map[string]any) {
	t.Helper()
	return getJSON(t, h.url+"/check-status/payment/transaction/"+invoiceID, token)
}

func getJSON(t *testing.T, url, token string) (int, map[string]any) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, url, nil)
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var body map[string]any
	json.NewDecoder(resp.Body).Decode(&body)
	return resp.StatusCode, body
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
		"invoiceID": "110000001", "amount": float64(100), "currency": "KZT", "terminal": sandbox.TestTerminal,
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

	status, body = statusOf(t, h, svc, "110000002")
	tx, _ = body["transaction"].(map[string]any)
	if status != 200 || body["resultCode"] != "101" || tx == nil || tx["statusName"] != "REJECT" || tx["reasonCode"] != "465" {
		t.Fatalf("after decline: %d %v, want resultCode \"101\", REJECT, reasonCode \"465\"", status, body)
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
		})
	}
}

func TestP2PStatusHasResultObject(t *testing.T) {
	h := startSandbox(t, nil)
	rc := newReceiver(t)
	h.pay(t, "130000001", rc.URL+"/post", "", "4405639704015096", "01/27", "321")
	svc := h.mustToken(t, serviceForm())["access_token"].(string)
	status, body := getJSON(t, h.url+"/check-status/p2p/transaction/130000001", svc)
	result, _ := body["result"].(map[string]any)
	if status != 200 || result["code"] != "100" || body["transaction"] == nil {
		t.Fatalf("p2p status: %d %v", status, body)
	}
	_, body = getJSON(t, h.url+"/api/check-status/p2p/transaction/130000009", svc)
	if result, _ := body["result"].(map[string]any); result["code"] != "102" {
		t.Fatalf("p2p status of an unknown order under /api: %v, want code 102", body)
	}
}
