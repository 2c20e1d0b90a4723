package sandbox_test

import (
	"net/http"
	"net/url"
	"testing"
)

func TestPayformChecksTheObjectAgainstTheToken(t *testing.T) {
	h := startSandbox(t, nil)
	auth := h.mustToken(t, h.tokenForm("700000001", "100", "http://shop.test/post", ""))
	svc := h.mustToken(t, serviceForm())
	transfer := h.mustToken(t, url.Values{
		"grant_type": {"client_credentials"}, "scope": {"transfer"}, "client_id": {"test"},
		"client_secret": {"yF587AV9Ms94qN2QShFzVR3vFnWkhjbAK3sG"}, "terminal": {"67e34d63-102f-4bd1-898e-370781d0074d"},
		"secret_hash": {"X"},
	})
	obj := func(mut func(map[string]any)) map[string]any {
		o := paymentObject(auth, "700000001", 100, "", "")
		mut(o)
		return o
	}
	cases := []struct {
		name string
		obj  map[string]any
		want string
	}{
		{"no auth", obj(func(o map[string]any) { delete(o, "auth") }), "auth is missing"},
		{"auth without access_token", obj(func(o map[string]any) { o["auth"] = map[string]any{"token_type": "Bearer"} }), "access_token is missing"},
		{"unknown token", obj(func(o map[string]any) { o["auth"] = map[string]any{"access_token": "NOPE"} }), "unknown or has expired"},
		{"service token", obj(func(o map[string]any) { o["auth"] = svc }), "not issued for a payment"},
		{"invoiceId of 5 digits", obj(func(o map[string]any) { o["invoiceId"] = "70000" }), "invoiceId"},
		{"invoiceId of another invoice", obj(func(o map[string]any) { o["invoiceId"] = "700000002" }), "not the invoice the token was issued for"},
		{"amount as a string", obj(func(o map[string]any) { o["amount"] = "100" }), "amount must be a number"},
		{"amount differs from the token", obj(func(o map[string]any) { o["amount"] = 101 }), "does not match the token"},
		{"currency differs from the token", obj(func(o map[string]any) { o["currency"] = "USD" }), "does not match the token"},
		{"terminal differs from the token", obj(func(o map[string]any) { o["terminal"] = "40a348cb-68a3-45d5-9002-a4836d79c3b5" }), "not the terminal"},
		{"cardSave as a string", obj(func(o map[string]any) { o["cardSave"] = "true" }), "cardSave must be a boolean"},
		{"P2P token without postLink anywhere", obj(func(o map[string]any) { o["auth"] = transfer }), "postLink is missing"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			status, page, session := h.openForm(t, c.obj)
			if status != http.StatusBadRequest || session != "" || !contains(page, `id="payform-error"`) || !contains(page, c.want) {
				t.Fatalf("got %d (session %q), want the error page saying %q:\n%s", status, session, c.want, page)
			}
		})
	}
}

func TestP2PTokenTakesTheInvoiceFromTheObject(t *testing.T) {
	h := startSandbox(t, nil)
	rc := newReceiver(t)
	form := h.tokenForm("800000001", "", "", "")
	for _, k := range []string{"invoiceID", "amount", "currency", "postLink", "failurePostLink"} {
		form.Del(k)
	}
	form.Set("scope", "transfer")
	auth := h.mustToken(t, form)
	o := paymentObject(auth, "800000001", 250.5, "http://shop.test/ok", "")
	o["postLink"] = rc.URL + "/post"
	status, page, session := h.openForm(t, o)
	if status != http.StatusOK || session == "" {
		t.Fatalf("form: %d %s", status, page)
	}
	if !contains(page, "250.5 KZT") {
		t.Errorf("form does not show the amount 250.5 KZT")
	}
	h.submitCard(t, session, "5522042705066736", "01/27", "775")
	h.deliveries(t, "800000001")
	got := rc.received()
	if len(got) != 1 || !contains(string(got[0].body), `"amount":250.5`) || !contains(string(got[0].body), `"cardType":"MASTERCARD"`) {
		t.Fatalf("POSTs %+v, want one success of 250.5 by MASTERCARD", got)
	}
	if err := h.keys.Verify("67e34d63-102f-4bd1-898e-370781d0074d", "800000001", jsonField(got[0].body, "secret_hash")); err != nil {
		t.Errorf("secret_hash: %v", err)
	}
}

func TestPaymentScriptIsServedOnBothPaths(t *testing.T) {
	h := startSandbox(t, nil)
	for _, p := range []string{"/payform/payment-api.js", "/redesign-payform/payment-api.js"} {
		resp, err := http.Get(h.url + p)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != 200 || !contains(resp.Header.Get("Content-Type"), "javascript") {
			t.Errorf("%s: %d %s", p, resp.StatusCode, resp.Header.Get("Content-Type"))
		}
	}
}
