package epaytest

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/epayflow/epayflow/internal/epay"
)

// ErrTriggerOptions is wrapped by every error about TriggerOptions.
var ErrTriggerOptions = errors.New("invalid trigger options")

// Trigger kinds.
const (
	KindSuccess = "success"
	KindFailure = "failure"
)

// TestTerminal is the terminal id ePay publishes for its test environment: Trigger's
// default, and the sandbox's.
const TestTerminal = "67e34d63-102f-4bd1-898e-370781d0074d"

// TriggerOptions say which callbacks Trigger sends and where.
type TriggerOptions struct {
	URL        string // where success callbacks go (the postLink)
	FailureURL string // where failure callbacks go (the failurePostLink); URL when empty
	InvoiceID  string
	Amount     epay.Amount
	Currency   string // default KZT
	Terminal   string // default the published test terminal
	Kind       string // KindSuccess (default) or KindFailure
	ReasonCode int    // of a failure callback, default 484
	Keys       *epay.Keyring
	Duplicates int              // how many times each callback is POSTed, default 1
	OutOfOrder bool             // first a failure (its own transaction), then the success
	WrongHash  bool             // send a secret_hash that does not verify: the receiver must refuse it
	Client     *http.Client     // default: a 10 s timeout; with a Deliverer it retries like ePay
	Now        func() time.Time // default time.Now
}

// TriggerPost is the outcome of one POST.
type TriggerPost struct {
	Kind          string `json:"kind"`
	URL           string `json:"url"`
	TransactionID string `json:"transactionId"`
	Status        int    `json:"status"` // 0 when no response came
	Error         string `json:"error,omitempty"`
	Want200       bool   `json:"want200"` // false with WrongHash: anything but 200 is right
	AsExpected    bool   `json:"asExpected"`
}

// TriggerResult lists every POST Trigger made, in order.
type TriggerResult struct {
	InvoiceID string        `json:"invoiceId"`
	Posts     []TriggerPost `json:"posts"`
}

// Unexpected counts the POSTs whose answer was not what the receiver should give: a 200
// for a well-signed callback, anything else for a wrongly signed one.
func (r TriggerResult) Unexpected() int {
	n := 0
	for _, p := range r.Posts {
		if !p.AsExpected {
			n++
		}
	}
	return n
}

// WriteReport prints one line per POST and a summary line.
func (r TriggerResult) WriteReport(w io.Writer) {
	for i, p := range r.Posts {
		got := fmt.Sprint(p.Status)
		if p.Error != "" {
			got = "error: " + p.Error
		}
		want := "want 200"
		if !p.Want200 {
			want = "want a refusal"
		}
		verdict := "ok"
		if !p.AsExpected {
			verdict = "UNEXPECTED (" + want + ")"
		}
		fmt.Fprintf(w, "POST %d %s invoice %s tx %s -> %s: %s %s\n", i+1, p.Kind, r.InvoiceID, p.TransactionID, p.URL, got, verdict)
	}
	fmt.Fprintf(w, "invoice %s: %d POSTs, %d as expected, %d unexpected\n", r.InvoiceID, len(r.Posts), len(r.Posts)-r.Unexpected(), r.Unexpected())
}

func (o TriggerOptions) withDefaults() TriggerOptions {
	if o.Currency == "" {
		o.Currency = "KZT"
	}
	if o.Terminal == "" {
		o.Terminal = TestTerminal
	}
	if o.Kind == "" {
		o.Kind = KindSuccess
	}
	if o.ReasonCode == 0 {
		o.ReasonCode = 484
	}
	if o.Duplicates == 0 {
		o.Duplicates = 1
	}
	if o.FailureURL == "" {
		o.FailureURL = o.URL
	}
	if o.Client == nil {
		o.Client = &http.Client{Timeout: 10 * time.Second}
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	return o
}

// Validate reports the first option that cannot work, wrapping ErrTriggerOptions.
func (o TriggerOptions) Validate() error {
	o = o.withDefaults()
	bad := func(format string, a ...any) error {
		return fmt.Errorf("%w: "+format, append([]any{ErrTriggerOptions}, a...)...)
	}
	if _, err := epay.NormalizeCurrency(o.Currency); err != nil {
		return bad("%v", err)
	}
	switch {
	case !isHTTPURL(o.URL) || !isHTTPURL(o.FailureURL):
		return bad("url %q is not an http(s) URL", o.URL)
	case epay.ValidateInvoiceID(o.InvoiceID) != nil:
		return bad("%v", epay.ValidateInvoiceID(o.InvoiceID))
	case o.Amount <= 0:
		return bad("amount must be positive")
	case o.Kind != KindSuccess && o.Kind != KindFailure:
		return bad("kind %q: want success or failure", o.Kind)
	case o.Keys == nil:
		return bad("no signing keys (EPAY_SECRET_KEYS)")
	case o.Duplicates < 1 || o.Duplicates > 1000:
		return bad("duplicates %d: want 1 to 1000", o.Duplicates)
	case o.OutOfOrder && o.Kind != KindSuccess:
		return bad("out-of-order sends a failure then the success: kind must be success")
	}
	return nil
}

// Trigger sends signed callbacks for one invoice, as ePay would, and reports the status
// of each POST. It returns an error wrapping ErrTriggerOptions for bad options, or the
// context's error when ctx ends first (with the POSTs made so far); a receiver that
// answers wrongly is not an error but a TriggerPost with AsExpected false.
func Trigger(ctx context.Context, opts TriggerOptions) (TriggerResult, error) {
	return trigger(ctx, opts, nil)
}

// TriggerWithIDs is Trigger with the transaction ids of its callbacks given: ids[0] is
// the first transaction (with OutOfOrder, the failure), ids[1] the success after it.
// Each id must be valid, and there must be exactly as many as Trigger makes
// transactions (two with OutOfOrder, else one). The chaos test records the same
// transactions in the sandbox first, so that its status API tells of them.
func TriggerWithIDs(ctx context.Context, opts TriggerOptions, ids ...string) (TriggerResult, error) {
	if ids == nil {
		ids = []string{}
	}
	return trigger(ctx, opts, ids)
}

// trigger is Trigger with the transaction ids given (nil: new ones).
func trigger(ctx context.Context, opts TriggerOptions, ids []string) (TriggerResult, error) {
	if err := opts.Validate(); err != nil {
		return TriggerResult{}, err
	}
	o := opts.withDefaults()
	hash := o.secretHash()
	var plan []Transaction
	if o.OutOfOrder {
		plan = append(plan, o.Transaction(o.ReasonCode))
	}
	if o.Kind == KindSuccess {
		plan = append(plan, o.Transaction(0))
	} else {
		plan = append(plan, o.Transaction(o.ReasonCode))
	}
	if ids != nil {
		if len(ids) != len(plan) {
			return TriggerResult{}, fmt.Errorf("%w: %d transaction ids, want %d", ErrTriggerOptions, len(ids), len(plan))
		}
		for i := range plan {
			if err := epay.ValidateTransactionID(ids[i]); err != nil {
				return TriggerResult{}, fmt.Errorf("%w: %v", ErrTriggerOptions, err)
			}
			plan[i].ID = ids[i]
		}
	}
	res := TriggerResult{InvoiceID: o.InvoiceID}
	for _, t := range plan {
		body := t.Body(hash)
		p := TriggerPost{Kind: KindSuccess, URL: o.URL, TransactionID: t.ID, Want200: !o.WrongHash}
		if t.ReasonCode != 0 {
			p.Kind, p.URL = KindFailure, o.FailureURL
		}
		for range o.Duplicates {
			if err := ctx.Err(); err != nil {
				return res, err
			}
			res.Posts = append(res.Posts, send(ctx, o.Client, p, body))
		}
	}
	return res, nil
}

func send(ctx context.Context, client *http.Client, p TriggerPost, body []byte) TriggerPost {
	status, err := Post(ctx, client, p.URL, body)
	p.Status = status
	if err != nil {
		p.Error = err.Error()
	}
	if p.Want200 {
		p.AsExpected = err == nil && status == http.StatusOK
	} else {
		p.AsExpected = err == nil && status != http.StatusOK
	}
	return p
}

// Transaction is the transaction a callback of Trigger tells, with a new id: approved
// when reasonCode is 0, declined with that reason code otherwise, paid with ePay's first
// published test card. The options' defaults apply, and the currency is written as ePay
// writes it when it is valid; the options are not validated (Trigger's job).
func (o TriggerOptions) Transaction(reasonCode int) Transaction {
	o = o.withDefaults()
	if cur, err := epay.NormalizeCurrency(o.Currency); err == nil {
		o.Currency = cur
	}
	t := Transaction{
		ID: NewUUID(), InvoiceID: o.InvoiceID, Terminal: o.Terminal, Currency: o.Currency,
		Amount: o.Amount, ReasonCode: reasonCode, Card: NewCard("4405639704015096"),
		Holder: "STANDARD CARDHOLDER", Description: "epay-sandbox trigger", Language: "rus",
		IP: "127.0.0.1", Created: o.Now(),
	}
	if reasonCode == 0 {
		t.ApprovalCode, t.Reference = NewDigits(6), NewDigits(12)
	}
	return t
}

// isHTTPURL reports whether s is an absolute http or https URL, one a callback can go to.
func isHTTPURL(s string) bool {
	u, err := url.Parse(s)
	return err == nil && (u.Scheme == "http" || u.Scheme == "https") && u.Host != ""
}

// secretHash is the secret_hash of o's callbacks: signed with o.Keys, spoiled with
// WrongHash.
func (o TriggerOptions) secretHash() string {
	hash := o.Keys.Sign(o.Terminal, o.InvoiceID)
	if o.WrongHash {
		hash = spoil(hash)
	}
	return hash
}

// spoil changes the last character of a secret_hash so that it no longer verifies but
// keeps its shape (key id and length).
func spoil(hash string) string {
	if hash == "" {
		return "AXXXXXXXXXXXXXXXXXXXXXXXX"
	}
	last := hash[len(hash)-1]
	repl := "A"
	if last == 'A' {
		repl = "B"
	}
	return strings.TrimSuffix(hash, string(last)) + repl
}
