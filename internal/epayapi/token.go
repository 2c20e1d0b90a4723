package epayapi

import (
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/epayflow/epayflow/internal/epay"
	"github.com/epayflow/epayflow/internal/jsonscan"
)

// Token scopes.
const (
	ScopePayment  = "payment"
	ScopeTransfer = "transfer"
	// ScopeService is the broad scope of the service token for status and operations.
	ScopeService = "webapi usermanagement email_send verification statement statistics payment"
)

// ErrRequest is wrapped by errors about a token request the client refuses to send.
var ErrRequest = errors.New("epayapi: invalid token request")

// Token is ePay's token answer. Raw is the whole JSON object as received: it is what
// the payment form wants as `auth`, so Token marshals to Raw. Printing or logging a
// Token shows its scope and lifetime, never the access token.
type Token struct {
	Raw         json.RawMessage
	AccessToken string
	ExpiresIn   time.Duration
	Scope       string
	TokenType   string
}

// MarshalJSON writes the token object as ePay sent it.
func (t Token) MarshalJSON() ([]byte, error) {
	if len(t.Raw) == 0 {
		return []byte("null"), nil
	}
	return t.Raw, nil
}

func (t Token) String() string {
	return fmt.Sprintf("epay token{scope=%q type=%q expires_in=%s}", t.Scope, t.TokenType, t.ExpiresIn)
}

// LogValue keeps the access token out of logs.
func (t Token) LogValue() slog.Value { return slog.StringValue(t.String()) }

// TokenRequest carries the invoice fields of a token request.
type TokenRequest struct {
	InvoiceID       string
	SecretHash      string
	Amount          epay.Amount
	Currency        string
	PostLink        string
	FailurePostLink string
	// Terminal is the invoice's terminal, when the caller names it; "": EPAY_TERMINAL for
	// a payment, the P2P terminal for a transfer.
	Terminal string
}

// PaymentToken gets a token with scope=payment for one card payment: the form carries
// grant_type, scope, client_id, client_secret, terminal, invoiceID, secret_hash, amount,
// currency, postLink and failurePostLink. Errors: ErrRequest, *APIError
// (ErrUnauthorized), ErrEPayUnavailable, ErrTimeout, ErrBadResponse.
func (c *Client) PaymentToken(ctx context.Context, r TokenRequest) (Token, error) {
	if err := r.validate(true); err != nil {
		return Token{}, err
	}
	form := c.baseForm(ScopePayment, cmp.Or(r.Terminal, c.cfg.Terminal))
	r.addInvoice(form)
	form.Set("secret_hash", r.SecretHash)
	return c.token(ctx, ScopePayment, form)
}

// TransferToken gets a token with scope=transfer for one P2P transfer: grant_type,
// scope, client_id, client_secret, terminal (the P2P terminal) and secret_hash, plus
// the invoice fields when r.InvoiceID is set (P2P by API). Errors as PaymentToken.
func (c *Client) TransferToken(ctx context.Context, r TokenRequest) (Token, error) {
	if err := r.validate(r.InvoiceID != ""); err != nil {
		return Token{}, err
	}
	form := c.baseForm(ScopeTransfer, cmp.Or(r.Terminal, c.cfg.p2pTerminal()))
	if r.InvoiceID != "" {
		r.addInvoice(form)
	}
	form.Set("secret_hash", r.SecretHash)
	return c.token(ctx, ScopeTransfer, form)
}

// ServiceToken gets a token with the broad service scope and the terminal, for the
// status API and operations. Errors as PaymentToken.
func (c *Client) ServiceToken(ctx context.Context) (Token, error) {
	return c.serviceToken(ctx, c.cfg.Terminal)
}

// serviceToken is a service token for terminal: ePay answers a status with 106 ("wrong
// terminal") to a token of another terminal than the transaction's.
func (c *Client) serviceToken(ctx context.Context, terminal string) (Token, error) {
	return c.token(ctx, "service", c.baseForm(ScopeService, terminal))
}

func (c *Client) baseForm(scope, terminal string) url.Values {
	return url.Values{
		"grant_type":    {"client_credentials"},
		"scope":         {scope},
		"client_id":     {c.cfg.ClientID},
		"client_secret": {string(c.cfg.ClientSecret)},
		"terminal":      {terminal},
	}
}

func (r TokenRequest) validate(invoice bool) error {
	if r.SecretHash == "" {
		return fmt.Errorf("%w: secret_hash is required", ErrRequest)
	}
	if !invoice {
		return nil
	}
	if err := epay.ValidateInvoiceID(r.InvoiceID); err != nil {
		return fmt.Errorf("%w: %w", ErrRequest, err)
	}
	switch {
	case r.Amount <= 0:
		return fmt.Errorf("%w: amount must be positive", ErrRequest)
	case r.Currency == "":
		return fmt.Errorf("%w: currency is required", ErrRequest)
	case r.PostLink == "":
		return fmt.Errorf("%w: postLink is required", ErrRequest)
	}
	return nil
}

func (r TokenRequest) addInvoice(form url.Values) {
	form.Set("invoiceID", r.InvoiceID)
	form.Set("amount", r.Amount.String())
	form.Set("currency", r.Currency)
	form.Set("postLink", r.PostLink)
	form.Set("failurePostLink", r.FailurePostLink)
}

// token posts the form and reads the answer; scope labels the metrics.
func (c *Client) token(ctx context.Context, scope string, form url.Values) (tok Token, err error) {
	start := time.Now()
	defer func() {
		c.m.tokenDuration.WithLabelValues(scope).Observe(time.Since(start).Seconds())
		if err != nil {
			c.m.tokenErrors.WithLabelValues(Cause(err)).Inc()
		}
	}()
	body := form.Encode()
	resp, err := c.do(ctx, "token "+scope, func(ctx context.Context) (*http.Request, error) {
		req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.cfg.TokenURL, strings.NewReader(body))
		if err != nil {
			return nil, err
		}
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.Header.Set("Accept", "application/json")
		return req, nil
	})
	if err != nil {
		return Token{}, err
	}
	if resp.status < 200 || resp.status > 299 {
		return Token{}, newAPIError(resp.status, resp.body, c.scrub())
	}
	return parseToken(resp.body)
}

// maxTokenLife is the longest expires_in taken, in seconds: a day.
const maxTokenLife = 24 * 60 * 60

// parseToken reads a token answer: a JSON object with a non-empty access_token;
// expires_in a number or a string holding one, at most maxTokenLife.
func parseToken(body []byte) (Token, error) {
	raw := bytes.TrimSpace(body)
	var obj map[string]json.RawMessage
	if err := json.Unmarshal(raw, &obj); err != nil || obj == nil {
		return Token{}, fmt.Errorf("%w: token answer is not a JSON object", ErrBadResponse)
	}
	t := Token{Raw: json.RawMessage(raw)}
	var err error
	if t.AccessToken, err = jsonscan.ScalarText(obj["access_token"]); err != nil || t.AccessToken == "" {
		return Token{}, fmt.Errorf("%w: token answer has no access_token", ErrBadResponse)
	}
	secs, err := flexInt(obj["expires_in"])
	if err != nil || secs < 0 {
		return Token{}, fmt.Errorf("%w: token expires_in is not a number of seconds", ErrBadResponse)
	}
	if secs > maxTokenLife {
		// ePay's tokens last 20 minutes; more than a day is a bad answer (and past ~292
		// years it would overflow a time.Duration into a negative lifetime)
		return Token{}, fmt.Errorf("%w: token expires_in %d seconds is more than a day", ErrBadResponse, secs)
	}
	t.ExpiresIn = time.Duration(secs) * time.Second
	t.Scope, _ = jsonscan.ScalarText(obj["scope"])
	t.TokenType, _ = jsonscan.ScalarText(obj["token_type"])
	return t, nil
}
