package epayapi

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/url"
	"testing"
	"time"
)

func paymentRequest() TokenRequest {
	return TokenRequest{
		InvoiceID:       "100000000001",
		SecretHash:      "AABCDEFGHIJKLMNOPQRSTUVWX",
		Amount:          1222,
		Currency:        "KZT",
		PostLink:        "https://shop.example.kz/epay/postlink",
		FailurePostLink: "https://shop.example.kz/epay/failure-postlink",
	}
}

func TestTokenRequestsSendExactlyTheDocumentedForm(t *testing.T) {
	withInvoice := "amount=12.22&client_id=test&client_secret=yF587AV9Ms94qN2QShFzVR3vFnWkhjbAK3sG" +
		"&currency=KZT&failurePostLink=https%3A%2F%2Fshop.example.kz%2Fepay%2Ffailure-postlink" +
		"&grant_type=client_credentials&invoiceID=100000000001" +
		"&postLink=https%3A%2F%2Fshop.example.kz%2Fepay%2Fpostlink"
	tests := []struct {
		name   string
		call   func(*Client) (Token, error)
		body   string
		fields []string
	}{
		{
			name: "payment token carries the invoice and secret_hash with scope=payment",
			call: func(c *Client) (Token, error) { return c.PaymentToken(context.Background(), paymentRequest()) },
			body: withInvoice + "&scope=payment&secret_hash=AABCDEFGHIJKLMNOPQRSTUVWX&terminal=67e34d63-102f-4bd1-898e-370781d0074d",
			fields: []string{"grant_type", "scope", "client_id", "client_secret", "terminal", "invoiceID",
				"secret_hash", "amount", "currency", "postLink", "failurePostLink"},
		},
		{
			name: "transfer token of the redirect form carries only secret_hash with scope=transfer",
			call: func(c *Client) (Token, error) {
				return c.TransferToken(context.Background(), TokenRequest{SecretHash: "JDKCNDDGGDTPSKJD"})
			},
			body: "client_id=test&client_secret=yF587AV9Ms94qN2QShFzVR3vFnWkhjbAK3sG&grant_type=client_credentials" +
				"&scope=transfer&secret_hash=JDKCNDDGGDTPSKJD&terminal=67e34d63-102f-4bd1-898e-370781d0074d",
			fields: []string{"grant_type", "scope", "client_id", "client_secret", "terminal", "secret_hash"},
		},
		{
			name: "transfer token by API adds the invoice fields",
			call: func(c *Client) (Token, error) { return c.TransferToken(context.Background(), paymentRequest()) },
			body: withInvoice + "&scope=transfer&secret_hash=AABCDEFGHIJKLMNOPQRSTUVWX&terminal=67e34d63-102f-4bd1-898e-370781d0074d",
			fields: []string{"grant_type", "scope", "client_id", "client_secret", "terminal", "invoiceID",
				"secret_hash", "amount", "currency", "postLink", "failurePostLink"},
		},
		{
			name: "service token asks for the broad scope and the terminal, no invoice",
			call: func(c *Client) (Token, error) { return c.ServiceToken(context.Background()) },
			body: "client_id=test&client_secret=yF587AV9Ms94qN2QShFzVR3vFnWkhjbAK3sG&grant_type=client_credentials" +
				"&scope=webapi+usermanagement+email_send+verification+statement+statistics+payment" +
				"&terminal=67e34d63-102f-4bd1-898e-370781d0074d",
			fields: []string{"grant_type", "scope", "client_id", "client_secret", "terminal"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := startFake(t, answer(200, tokenBody))
			if _, err := tt.call(mustClient(t, testConfig(f))); err != nil {
				t.Fatalf("token: %v", err)
			}
			reqs := f.requests()
			if len(reqs) != 1 {
				t.Fatalf("%d requests, want 1", len(reqs))
			}
			r := reqs[0]
			if r.Method != http.MethodPost || r.Path != "/oauth2/token" || r.ContentType != "application/x-www-form-urlencoded" {
				t.Fatalf("request %s %s (%s), want POST /oauth2/token form", r.Method, r.Path, r.ContentType)
			}
			if r.Body != tt.body {
				t.Fatalf("body\n got %s\nwant %s", r.Body, tt.body)
			}
			form, _ := url.ParseQuery(r.Body)
			if len(form) != len(tt.fields) {
				t.Fatalf("form has %d fields, want exactly %v", len(form), tt.fields)
			}
			for _, k := range tt.fields {
				if len(form[k]) != 1 {
					t.Fatalf("field %s sent %d times, want once", k, len(form[k]))
				}
			}
		})
	}
}

func TestTokenAnswerIsKeptVerbatimAndReadInBothShapes(t *testing.T) {
	tests := []struct {
		name    string
		body    string
		expires time.Duration
	}{
		{"expires_in as a number", tokenBody, 2 * time.Hour},
		{"expires_in as a string", `{"access_token":"TOKEN_1234567","expires_in":"1200","refresh_token":"","scope":"transfer","token_type":"Bearer","extra":{"a":[1,2.50]}}`, 20 * time.Minute},
		{"expires_in missing", `{"access_token":"TOKEN_1234567","token_type":"Bearer"}`, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := startFake(t, answer(200, tt.body))
			tok, err := mustClient(t, testConfig(f)).PaymentToken(context.Background(), paymentRequest())
			if err != nil {
				t.Fatal(err)
			}
			if tok.ExpiresIn != tt.expires || tok.TokenType != "Bearer" || tok.AccessToken == "" {
				t.Fatalf("token %v (access token empty: %v), want expires_in %s", tok, tok.AccessToken == "", tt.expires)
			}
			if string(tok.Raw) != tt.body {
				t.Fatalf("Raw = %s, want the body as received", tok.Raw)
			}
			auth, _ := json.Marshal(map[string]any{"auth": tok})
			var back struct{ Auth json.RawMessage }
			json.Unmarshal(auth, &back)
			if !jsonEqual(t, back.Auth, []byte(tt.body)) {
				t.Fatalf("marshalled auth %s differs from %s", back.Auth, tt.body)
			}
		})
	}
}

func jsonEqual(t *testing.T, a, b []byte) bool {
	t.Helper()
	var x, y any
	if err := json.Unmarshal(a, &x); err != nil {
		t.Fatalf("not JSON: %s", a)
	}
	if err := json.Unmarshal(b, &y); err != nil {
		t.Fatalf("not JSON: %s", b)
	}
	xs, _ := json.Marshal(x)
	ys, _ := json.Marshal(y)
	return string(xs) == string(ys)
}

func TestTokenAnswerThatIsNotATokenIsABadResponse(t *testing.T) {
	for name, body := range map[string]string{
		"not JSON":                `<html>maintenance</html>`,
		"an array":                `[]`,
		"no access_token":         `{"expires_in":7200}`,
		"expires_in not a number": `{"access_token":"TOKEN_1234567","expires_in":"soon"}`,
	} {
		t.Run(name, func(t *testing.T) {
			f := startFake(t, answer(200, body))
			_, err := mustClient(t, testConfig(f)).PaymentToken(context.Background(), paymentRequest())
			if !errors.Is(err, ErrBadResponse) {
				t.Fatalf("err %v, want ErrBadResponse", err)
			}
		})
	}
}

func TestTokenErrorsAreTypedAndFourHundredsAreNotRetried(t *testing.T) {
	tests := []struct {
		name         string
		status       int
		body         string
		want         APIError
		unauthorized bool
	}{
		{"ePay code and message", 400, `{"code":"101","message":"invalid terminal"}`, APIError{400, "101", "invalid terminal"}, false},
		{"OAuth error shape", 400, `{"error":"invalid_scope","error_description":"scope transfer is not allowed"}`, APIError{400, "invalid_scope", "scope transfer is not allowed"}, false},
		{"numeric code", 400, `{"code":484,"message":"bad amount"}`, APIError{400, "484", "bad amount"}, false},
		{"plain text body", 400, "Bad Request\n", APIError{400, "", "Bad Request"}, false},
		{"bad client credentials (401)", 401, `{"code":"unauthorized","message":"client not found"}`, APIError{401, "unauthorized", "client not found"}, true},
		{"bad client credentials (OAuth invalid_client)", 400, `{"error":"invalid_client"}`, APIError{400, "invalid_client", ""}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := startFake(t, answer(tt.status, tt.body))
			_, err := mustClient(t, testConfig(f)).PaymentToken(context.Background(), paymentRequest())
			var api *APIError
			if !errors.As(err, &api) || *api != tt.want {
				t.Fatalf("err %#v, want %#v", err, tt.want)
			}
			if errors.Is(err, ErrUnauthorized) != tt.unauthorized {
				t.Fatalf("errors.Is(err, ErrUnauthorized) = %v, want %v", !tt.unauthorized, tt.unauthorized)
			}
			if n := len(f.requests()); n != 1 {
				t.Fatalf("%d requests: a 4xx must not be retried", n)
			}
		})
	}
}

func TestFiveHundredsAreRetriedThenSucceed(t *testing.T) {
	f := startFake(t, answer(503, `{"message":"down"}`), answer(502, "bad gateway"), answer(200, tokenBody))
	tok, err := mustClient(t, testConfig(f)).PaymentToken(context.Background(), paymentRequest())
	if err != nil {
		t.Fatalf("after two 5xx: %v", err)
	}
	if tok.AccessToken != "DCEB8O_ZM5U7SO_T_U5EJQ" {
		t.Fatalf("token %v", tok)
	}
	reqs := f.requests()
	if len(reqs) != 3 || reqs[0].Body != reqs[2].Body {
		t.Fatalf("%d requests (want 3, the same body each time)", len(reqs))
	}
}

func TestFiveHundredsOnEveryAttemptMeanUnavailable(t *testing.T) {
	f := startFake(t, answer(500, "oops"))
	_, err := mustClient(t, testConfig(f)).PaymentToken(context.Background(), paymentRequest())
	if !errors.Is(err, ErrEPayUnavailable) {
		t.Fatalf("err %v, want ErrEPayUnavailable", err)
	}
	if n := len(f.requests()); n != 3 {
		t.Fatalf("%d requests, want exactly MaxAttempts=3", n)
	}
}

func TestNetworkErrorsMeanUnavailable(t *testing.T) {
	f := startFake(t, answer(200, tokenBody))
	cfg := testConfig(f)
	f.Close()
	_, err := mustClient(t, cfg).PaymentToken(context.Background(), paymentRequest())
	if !errors.Is(err, ErrEPayUnavailable) {
		t.Fatalf("err %v, want ErrEPayUnavailable", err)
	}
}

func TestAHangingEPayTimesOutWithinTheBudget(t *testing.T) {
	f := startFake(t, hang)
	cfg := testConfig(f)
	cfg.Timeout, cfg.MaxAttempts = 50*time.Millisecond, 2
	// the caller's own deadline is far: the client's budget, not the caller's, must end it
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	_, err := mustClient(t, cfg).PaymentToken(ctx, paymentRequest())
	if !errors.Is(err, ErrTimeout) || ctx.Err() != nil {
		t.Fatalf("err %v (the caller's context: %v), want ErrTimeout with the caller's deadline not reached", err, ctx.Err())
	}
	if n := len(f.requests()); n != 2 {
		t.Fatalf("%d requests, want 2 (a timeout is retried)", n)
	}
}

func TestTheCallersDeadlineIsATimeout(t *testing.T) {
	f := startFake(t, hang)
	ctx, cancel := context.WithTimeout(context.Background(), 80*time.Millisecond)
	defer cancel()
	_, err := mustClient(t, testConfig(f)).PaymentToken(ctx, paymentRequest())
	if !errors.Is(err, ErrTimeout) {
		t.Fatalf("err %v, want ErrTimeout", err)
	}
}

func TestTokenRequestsMissingInvoiceFieldsAreNotSent(t *testing.T) {
	f := startFake(t, answer(200, tokenBody))
	c := mustClient(t, testConfig(f))
	bad := paymentRequest()
	bad.InvoiceID = "12ab"
	if _, err := c.PaymentToken(context.Background(), bad); !errors.Is(err, ErrRequest) {
		t.Fatalf("err %v, want ErrRequest", err)
	}
	if _, err := c.TransferToken(context.Background(), TokenRequest{}); !errors.Is(err, ErrRequest) {
		t.Fatalf("transfer without secret_hash: %v, want ErrRequest", err)
	}
	for name, change := range map[string]func(*TokenRequest){
		"no amount":   func(r *TokenRequest) { r.Amount = 0 },
		"no currency": func(r *TokenRequest) { r.Currency = "" },
		"no postLink": func(r *TokenRequest) { r.PostLink = "" },
	} {
		bad := paymentRequest()
		change(&bad)
		if _, err := c.PaymentToken(context.Background(), bad); !errors.Is(err, ErrRequest) {
			t.Fatalf("%s: err %v, want ErrRequest", name, err)
		}
	}
	if n := len(f.requests()); n != 0 {
		t.Fatalf("%d requests sent", n)
	}
}
