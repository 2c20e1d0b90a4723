package sandbox_test

import (
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/epayflow/epayflow/internal/sandbox"
)

func without(f url.Values, key string) url.Values {
	c := url.Values{}
	for k, v := range f {
		if k != key {
			c[k] = v
		}
	}
	return c
}

func with(f url.Values, key, value string) url.Values {
	c := url.Values{}
	for k, v := range f {
		c[k] = v
	}
	c.Set(key, value)
	return c
}

func TestTokenMissingFieldIs400NamingIt(t *testing.T) {
	h := startSandbox(t, nil)
	payment := h.tokenForm("123456789", "100", "http://shop.test/post", "http://shop.test/fail")
	transfer := with(without(without(without(without(without(payment, "invoiceID"), "amount"), "currency"), "postLink"), "failurePostLink"), "scope", "transfer")
	service := serviceForm()
	type tc struct {
		scope string
		form  url.Values
		field string
	}
	var cases []tc
	for _, f := range []string{"grant_type", "scope", "client_id", "client_secret", "terminal", "invoiceID", "secret_hash", "amount", "currency", "postLink", "failurePostLink"} {
		cases = append(cases, tc{"payment", payment, f})
	}
	for _, f := range []string{"grant_type", "client_id", "client_secret", "terminal", "secret_hash"} {
		cases = append(cases, tc{"transfer", transfer, f})
	}
	for _, f := range []string{"grant_type", "client_id", "client_secret", "terminal"} {
		cases = append(cases, tc{"service", service, f})
	}
	for _, c := range cases {
		t.Run(c.scope+"_without_"+c.field, func(t *testing.T) {
			status, body := h.token(t, without(c.form, c.field))
			if status != http.StatusBadRequest || body["error"] != "invalid_request" {
				t.Fatalf("got %d %v, want 400 invalid_request", status, body)
			}
			if desc, _ := body["error_description"].(string); !strings.HasSuffix(desc, ": "+c.field) {
				t.Errorf("error_description %q does not name %s", desc, c.field)
			}
		})
	}
}

func TestTokenOptionalFieldsPerScope(t *testing.T) {
	h := startSandbox(t, nil)
	payment := h.tokenForm("123456789", "100", "http://shop.test/post", "http://shop.test/fail")
	cases := map[string]url.Values{
		"transfer needs no invoice fields": with(without(without(without(without(without(payment, "invoiceID"), "amount"), "currency"), "postLink"), "failurePostLink"), "scope", "transfer"),
		"transfer takes invoice fields":    with(payment, "scope", "transfer"),
		"service needs terminal only":      serviceForm(),
		"service scope in another order":   with(serviceForm(), "scope", "payment statistics statement verification email_send usermanagement webapi"),
		"service scope with an invoice":    with(payment, "scope", sandbox.ServiceScope),
	}
	for name, form := range cases {
		t.Run(name, func(t *testing.T) {
			if status, body := h.token(t, form); status != http.StatusOK {
				t.Fatalf("got %d %v, want 200", status, body)
			}
		})
	}
}

func TestTokenRefusals(t *testing.T) {
	h := startSandbox(t, nil)
	good := h.tokenForm("123456789", "100", "http://shop.test/post", "http://shop.test/fail")
	cases := []struct {
		name   string
		form   url.Values
		status int
		error  string
	}{
		{"wrong client secret", with(good, "client_secret", "wrong"), 401, "invalid_client"},
		{"unknown client id", with(good, "client_id", "other"), 401, "invalid_client"},
		{"grant type password", with(good, "grant_type", "password"), 400, "unsupported_grant_type"},
		{"unknown scope", with(good, "scope", "admin"), 400, "invalid_scope"},
		{"terminal of someone else", with(good, "terminal", "40a348cb-68a3-45d5-9002-a4836d79c3b5"), 400, "invalid_request"},
		{"invoiceID with letters", with(good, "invoiceID", "12345abc"), 400, "invalid_request"},
		{"invoiceID of 5 digits", with(good, "invoiceID", "12345"), 400, "invalid_request"},
		{"amount not a number", with(good, "amount", "ten"), 400, "invalid_request"},
		{"amount zero", with(good, "amount", "0"), 400, "invalid_request"},
		{"amount with 3 decimals", with(good, "amount", "1.005"), 400, "invalid_request"},
		{"unknown currency", with(good, "currency", "XXX"), 400, "invalid_request"},
		{"postLink not a URL", with(good, "postLink", "shop.test/post"), 400, "invalid_request"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			status, body := h.token(t, c.form)
			if status != c.status || body["error"] != c.error {
				t.Fatalf("got %d %v, want %d %s", status, body, c.status, c.error)
			}
			if _, ok := body["access_token"]; ok {
				t.Fatal("a refusal carries an access_token")
			}
		})
	}
}

func TestTokenResponseShape(t *testing.T) {
	for _, asString := range []bool{false, true} {
		h := startSandbox(t, func(c *sandbox.Config) { c.ExpiresInString = asString; c.ExpiresIn = 7200 * time.Second })
		body := h.mustToken(t, h.tokenForm("123456789", "12.22", "http://shop.test/post", "http://shop.test/fail"))
		var want any = float64(7200)
		if asString {
			want = "7200"
		}
		if body["expires_in"] != want {
			t.Errorf("string=%v: expires_in = %#v, want %#v", asString, body["expires_in"], want)
		}
		if tok, _ := body["access_token"].(string); len(tok) < 16 {
			t.Errorf("access_token %q too short", tok)
		}
		if body["refresh_token"] != "" || body["scope"] != "payment" || body["token_type"] != "Bearer" {
			t.Errorf("body = %v, want refresh_token \"\", scope payment, token_type Bearer", body)
		}
	}
}

func TestTokenAcceptsMultipartFormData(t *testing.T) {
	h := startSandbox(t, nil)
	var sb strings.Builder
	boundary := "xYzBoundary"
	for k, v := range serviceForm() {
		sb.WriteString("--" + boundary + "\r\nContent-Disposition: form-data; name=\"" + k + "\"\r\n\r\n" + v[0] + "\r\n")
	}
	sb.WriteString("--" + boundary + "--\r\n")
	resp, err := http.Post(h.url+"/oauth2/token", "multipart/form-data; boundary="+boundary, strings.NewReader(sb.String()))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("multipart token request: %d", resp.StatusCode)
	}
}

func TestExpiredTokenOpensNoFormAndNoStatus(t *testing.T) {
	h := startSandbox(t, func(c *sandbox.Config) { c.ExpiresIn = 1200 * time.Second })
	auth := h.mustToken(t, h.tokenForm("123456789", "100", "http://shop.test/post", ""))
	svc := h.mustToken(t, serviceForm())
	h.clock.Advance(1199 * time.Second)
	if status, page, _ := h.openForm(t, paymentObject(auth, "123456789", 100, "", "")); status != http.StatusOK {
		t.Fatalf("form one second before expiry: %d %s", status, page)
	}
	if status, _ := statusOf(t, h, svc["access_token"].(string), "123456789"); status != http.StatusOK {
		t.Fatalf("status one second before expiry: %d", status)
	}
	h.clock.Advance(time.Second)
	status, page, _ := h.openForm(t, paymentObject(auth, "123456789", 100, "", ""))
	if status != http.StatusBadRequest || !contains(page, `id="payform-error"`) || !contains(page, "expired") {
		t.Fatalf("form at expiry: %d %s, want the error page", status, page)
	}
	if status, _ := statusOf(t, h, svc["access_token"].(string), "123456789"); status != http.StatusUnauthorized {
		t.Fatalf("status API with an expired token: %d, want 401", status)
	}
}
