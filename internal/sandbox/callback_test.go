package sandbox_test

import (
	"encoding/json"
	"net/http"
	"os"
	"regexp"
	"testing"

	"github.com/epayflow/epayflow/internal/epay"
	"github.com/epayflow/epayflow/internal/epaytest"
	"github.com/epayflow/epayflow/internal/sandbox"
)

// sample reads one of the source document's callback samples (internal/epay/testdata).
func sample(t *testing.T, name string) map[string]any {
	t.Helper()
	b, err := os.ReadFile("../epay/testdata/" + name)
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	return m
}

// sameShape checks that got has exactly the sample's keys (plus extra) with the same JSON types.
func sameShape(t *testing.T, got, sample map[string]any, extra ...string) {
	t.Helper()
	for _, d := range epaytest.ShapeDiff(got, sample, extra...) {
		t.Error(d)
	}
}

var (
	uuidRe     = regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$`)
	dateTimeRe = regexp.MustCompile(`^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{9}\+05:00$`)
)

func TestSuccessCallbackRetriedUntil200HasTheSampleShape(t *testing.T) {
	h := startSandbox(t, nil)
	rc := newReceiver(t, http.StatusServiceUnavailable, http.StatusServiceUnavailable)
	resp, page := h.pay(t, "100000001", rc.URL+"/epay/postlink", rc.URL+"/epay/failure-postlink", "4405 6397 0401 5096", "01/27", "321")
	if resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("card form: %d %s, want a 303 to backLink", resp.StatusCode, page)
	}
	if loc := resp.Header.Get("Location"); loc != "http://shop.test/ok?invoiceId=100000001" {
		t.Errorf("redirect to %q, want backLink with the invoiceId", loc)
	}
	ds := h.deliveries(t, "100000001")
	if len(ds) != 1 || ds[0].Attempts != 3 || !ds[0].Delivered || ds[0].LastStatus != 200 || ds[0].Kind != "success" {
		t.Fatalf("deliveries = %+v, want one success delivered on attempt 3", ds)
	}
	if ds[0].URL != rc.URL+"/epay/postlink" || len(ds[0].History) != 3 || ds[0].History[0].Status != 503 {
		t.Errorf("delivery = %+v, want 3 attempts to postLink, first 503", ds[0])
	}
	got := rc.received()
	if len(got) != 3 {
		t.Fatalf("receiver got %d POSTs, want 3", len(got))
	}
	for _, r := range got {
		if r.path != "/epay/postlink" || r.contentType != "application/json" || string(r.body) != string(got[0].body) {
			t.Errorf("POST %s %s: want the same JSON body to postLink each time", r.path, r.contentType)
		}
	}
	var body map[string]any
	if err := json.Unmarshal(got[0].body, &body); err != nil {
		t.Fatal(err)
	}
	sameShape(t, body, sample(t, "success.json"), "secret_hash")
	checks := map[string]bool{
		"code ok":                 body["code"] == "ok",
		"reason success":          body["reason"] == "success",
		"reasonCode 0":            body["reasonCode"] == float64(0),
		"amount 100":              body["amount"] == float64(100),
		"cardMask 440563...5096":  body["cardMask"] == "440563...5096",
		"cardType VISA":           body["cardType"] == "VISA",
		"invoiceId":               body["invoiceId"] == "100000001",
		"terminal":                body["terminal"] == sandbox.TestTerminal,
		"id is a UUID":            uuidRe.MatchString(body["id"].(string)),
		"cardId is a UUID":        uuidRe.MatchString(body["cardId"].(string)),
		"dateTime +05:00 ns":      dateTimeRe.MatchString(body["dateTime"].(string)),
		"approvalCode 6 digits":   regexp.MustCompile(`^\d{6}$`).MatchString(body["approvalCode"].(string)),
		"secure no":               body["secure"] == "no",
		"name is the card holder": body["name"] == "TEST HOLDER",
	}
	for what, ok := range checks {
		if !ok {
			t.Errorf("%s: body %s", what, got[0].body)
		}
	}
	cb, err := epay.DecodeCallback(got[0].body)
	if err != nil || cb.Validate() != nil {
		t.Fatalf("the shared decoder refuses the callback: %v %v", err, cb.Validate())
	}
	if err := h.keys.Verify(cb.Terminal, cb.InvoiceID, cb.SecretHash); err != nil {
		t.Errorf("secret_hash %q does not verify: %v", cb.SecretHash, err)
	}
}

func TestDeclinedCardsSendTheFailureShapeToFailurePostLink(t *testing.T) {
	cases := []struct {
		name, number, expiry, cvc string
		reasonCode                int
		cardType                  string
	}{
		{"locked visa", "4003032704547597", "01/27", "123", 465, "VISA"},
		{"locked mastercard", "5578342710750560", "12/28", "123", 465, "MASTERCARD"},
		{"unknown card", "4111111111111111", "01/27", "123", 484, "VISA"},
		{"expired card", "4405639704015096", "10/26", "321", 478, "VISA"},
		{"test card, wrong expiry", "4405639704015096", "02/27", "321", 457, "VISA"},
		{"test card, wrong CVC", "5522042705066736", "01/27", "776", 462, "MASTERCARD"},
	}
	for i, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			h := startSandbox(t, nil)
			rc := newReceiver(t)
			invoiceID := "20000000" + string(rune('0'+i))
			resp, page := h.pay(t, invoiceID, rc.URL+"/post", rc.URL+"/fail", c.number, c.expiry, c.cvc)
			if loc := resp.Header.Get("Location"); resp.StatusCode != 303 || loc != "http://shop.test/fail?invoiceId="+invoiceID {
				t.Fatalf("card form: %d %q %s, want a 303 to failureBackLink", resp.StatusCode, loc, page)
			}
			ds := h.deliveries(t, invoiceID)
			got := rc.received()
			if len(ds) != 1 || ds[0].Kind != "failure" || !ds[0].Delivered || len(got) != 1 || got[0].path != "/fail" {
				t.Fatalf("deliveries %+v, POSTs %d: want one failure to failurePostLink", ds, len(got))
			}
			var body map[string]any
			json.Unmarshal(got[0].body, &body)
			sameShape(t, body, sample(t, "failure.json"), "secret_hash")
			if body["code"] != "error" || body["reasonCode"] != float64(c.reasonCode) || body["CardType"] != c.cardType {
				t.Errorf("body %s: want code error, reasonCode %d, CardType %s", got[0].body, c.reasonCode, c.cardType)
			}
			if want, _ := epay.Reason(c.reasonCode); body["reason"] != want.EN {
				t.Errorf("reason %q, want %q", body["reason"], want.EN)
			}
			if err := h.keys.Verify(sandbox.TestTerminal, invoiceID, body["secret_hash"].(string)); err != nil {
				t.Errorf("secret_hash does not verify: %v", err)
			}
		})
	}
}

func TestFailureGoesToPostLinkWhenFailurePostLinkIsEmpty(t *testing.T) {
	h := startSandbox(t, nil)
	rc := newReceiver(t)
	h.pay(t, "300000001", rc.URL+"/post", "", "4003032704547597", "01/27", "123")
	h.deliveries(t, "300000001")
	if got := rc.received(); len(got) != 1 || got[0].path != "/post" {
		t.Fatalf("POSTs %+v, want the failure at postLink", got)
	}
}

func TestCallbackGivesUpAfterTheConfiguredAttempts(t *testing.T) {
	h := startSandbox(t, func(c *sandbox.Config) { c.CallbackAttempts = 4 })
	rc := newReceiver(t, 500, 500, 500, 500, 500, 500)
	h.pay(t, "300000002", rc.URL+"/post", "", "4405639704015096", "01/27", "321")
	ds := h.deliveries(t, "300000002")
	if len(ds) != 1 || ds[0].Attempts != 4 || ds[0].Delivered || ds[0].LastStatus != 500 {
		t.Fatalf("deliveries = %+v, want 4 attempts, not delivered", ds)
	}
	if n := len(rc.received()); n != 4 {
		t.Fatalf("receiver got %d POSTs, want 4", n)
	}
}

func TestCardFormErrorsSendNothing(t *testing.T) {
	cases := map[string]struct{ number, expiry, cvc string }{
		"number fails Luhn": {"4405639704015097", "01/27", "321"},
		"number too short":  {"4405", "01/27", "321"},
		"expiry not MM/YY":  {"4405639704015096", "13/27", "321"},
		"cvc of two digits": {"4405639704015096", "01/27", "32"},
		"letters in number": {"4405-6397-abcd-5096", "01/27", "321"},
		"expiry empty":      {"4405639704015096", "", "321"},
	}
	h := startSandbox(t, nil)
	rc := newReceiver(t)
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			resp, page := h.pay(t, "400000001", rc.URL+"/post", "", c.number, c.expiry, c.cvc)
			if resp.StatusCode != http.StatusBadRequest || !contains(page, `id="card-error"`) || !contains(page, `id="card-number"`) {
				t.Fatalf("got %d, want the form again with #card-error:\n%s", resp.StatusCode, page)
			}
		})
	}
	if got := h.sb.Deliveries(""); len(got) != 0 || len(rc.received()) != 0 {
		t.Fatalf("form errors sent callbacks: %+v", got)
	}
}

func TestPaidInvoiceCannotBePaidAgainButFailedOneCan(t *testing.T) {
	h := startSandbox(t, nil)
	rc := newReceiver(t)
	h.pay(t, "500000001", rc.URL+"/post", "", "4003032704547597", "01/27", "123")
	if resp, page := h.pay(t, "500000001", rc.URL+"/post", "", "4405639704015096", "01/27", "321"); resp.StatusCode != 303 {
		t.Fatalf("retry after a decline: %d %s", resp.StatusCode, page)
	}
	auth := h.mustToken(t, h.tokenForm("500000001", "100", rc.URL+"/post", ""))
	status, page, _ := h.openForm(t, paymentObject(auth, "500000001", 100, "", ""))
	if status != http.StatusBadRequest || !contains(page, "already paid") {
		t.Fatalf("paying a paid invoice: %d %s", status, page)
	}
	h.deliveries(t, "500000001")
	if ds := h.sb.Deliveries("500000001"); len(ds) != 2 || ds[0].Kind != "failure" || ds[1].Kind != "success" {
		t.Fatalf("deliveries = %+v, want failure then success", ds)
	}
}

func TestNoBackLinkShowsTheOutcomeOnTheSandbox(t *testing.T) {
	h := startSandbox(t, nil)
	rc := newReceiver(t)
	auth := h.mustToken(t, h.tokenForm("600000001", "100", rc.URL+"/post", ""))
	_, _, session := h.openForm(t, paymentObject(auth, "600000001", 100, "", ""))
	resp, page := h.submitCard(t, session, "4405639704015096", "01/27", "321")
	if resp.StatusCode != http.StatusOK || !contains(page, `id="payment-result"`) || !contains(page, `data-outcome="success"`) {
		t.Fatalf("got %d %s, want the sandbox result page", resp.StatusCode, page)
	}
}
