package merchant

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// OperationResult is the answer to Refund, Charge and Cancel (worker.yaml,
// OperationResponse): the operation as recorded and the invoice after it.
type OperationResult struct {
	// Error says why ePay refused the operation (with ErrRefused), "" otherwise.
	Error     string      `json:"error,omitempty"`
	Operation Operation   `json:"operation"`
	Invoice   InvoiceView `json:"invoice"`
}

// Refund pays back amount of a paid invoice ("" for all that is left to refund; ePay
// refunds at least 10 KZT). Charge takes amount of a two-stage payment's hold ("" for the
// whole hold), Cancel releases the hold. Each goes through the initiator and is made by
// the invoice's worker, once per idempotencyKey (1 to 128 of A-Z a-z 0-9 . _ : -): the
// same key again answers the first outcome, the same key with another request is
// ErrConflict. The errors are an *APIError: ErrRefused when the invoice's rules refused
// it before ePay was asked (the error only) or ePay refused it (the operation recorded as
// failed: the *OperationResult comes back with the error), ErrUnavailable when the
// outcome is not known yet (send it again with the same key), ErrInvalid, ErrNotFound,
// ErrUnauthorized; or the transport's.
func (c *Client) Refund(ctx context.Context, invoiceID, amount, idempotencyKey string) (*OperationResult, error) {
	return c.operation(ctx, invoiceID, OperationRefund, amount, idempotencyKey)
}

// Charge takes amount ("" for the whole hold) of a two-stage payment: see Refund.
func (c *Client) Charge(ctx context.Context, invoiceID, amount, idempotencyKey string) (*OperationResult, error) {
	return c.operation(ctx, invoiceID, OperationCharge, amount, idempotencyKey)
}

// Cancel releases a two-stage payment's hold: see Refund.
func (c *Client) Cancel(ctx context.Context, invoiceID, idempotencyKey string) (*OperationResult, error) {
	return c.operation(ctx, invoiceID, OperationCancel, "", idempotencyKey)
}

func (c *Client) operation(ctx context.Context, invoiceID, typ, amount, idempotencyKey string) (*OperationResult, error) {
	if c.cfg.InitiatorURL == "" {
		return nil, errNoService("InitiatorURL")
	}
	var in any
	if amount != "" {
		in = struct {
			Amount string `json:"amount"`
		}{amount}
	}
	var r OperationResult
	_, _, err := c.call(ctx, http.MethodPost, c.cfg.InitiatorURL+"/v1/invoices/"+url.PathEscape(invoiceID)+"/"+typ, c.cfg.APIKey, in,
		http.Header{"Idempotency-Key": {idempotencyKey}}, &r)
	if e, ok := errors.AsType[*APIError](err); ok && e.Status == http.StatusUnprocessableEntity {
		// ePay's refusal comes with the operation it recorded as failed.
		if json.Unmarshal(e.body, &r) == nil && r.Operation.ID != "" {
			return &r, err
		}
	}
	if err != nil {
		return nil, err
	}
	return &r, nil
}

// ListOptions selects a page of ListInvoices.
type ListOptions struct {
	// States keeps only invoices in these states (StatePaid, ...); all when empty.
	States []string
	// Since keeps only invoices whose last change was at or after it; ignored for the
	// position when Cursor is given.
	Since time.Time
	// Limit is the page's size, 1 to 500 (0: the API's default, 100).
	Limit int
	// Cursor is the previous page's NextCursor.
	Cursor string
}

// InvoicePage is a page of ListInvoices (worker.yaml, InvoiceList).
type InvoicePage struct {
	Invoices []InvoiceView `json:"invoices"`
	// NextCursor goes on after this page; keep the last one to ask later for what
	// changed since.
	NextCursor string `json:"nextCursor"`
	// HasMore: more records followed when the page was made (a filtered page may hold
	// fewer than Limit invoices, even none, and still have more).
	HasMore bool `json:"hasMore"`
}

// ListInvoices reads a page of every invoice's current state from the worker's read API,
// in the order of their last change. An invoice that changes while you page comes again
// with its new state: keep the highest Version of each InvoiceID. The errors are an
// *APIError (ErrInvalid, ErrUnauthorized, ErrUnavailable) or the transport's.
func (c *Client) ListInvoices(ctx context.Context, o ListOptions) (*InvoicePage, error) {
	if c.cfg.WorkerURL == "" {
		return nil, errNoService("WorkerURL")
	}
	q := url.Values{}
	if len(o.States) > 0 {
		q.Set("state", strings.Join(o.States, ","))
	}
	if !o.Since.IsZero() {
		q.Set("since", o.Since.UTC().Format(time.RFC3339Nano))
	}
	if o.Limit != 0 {
		q.Set("limit", strconv.Itoa(o.Limit))
	}
	if o.Cursor != "" {
		q.Set("cursor", o.Cursor)
	}
	target := c.cfg.WorkerURL + "/v1/invoices"
	if len(q) > 0 {
		target += "?" + q.Encode()
	}
	var p InvoicePage
	if _, _, err := c.call(ctx, http.MethodGet, target, c.cfg.ReadKey, nil, nil, &p); err != nil {
		return nil, err
	}
	return &p, nil
}

// ResolveRequest is an operator's decision on an invoice in review or unmatched
// (worker.yaml, ResolveRequest).
type ResolveRequest struct {
	Decision string `json:"decision"` // StatePaid or StateFailed
	By       string `json:"by"`       // who decides (a name, an email)
	Reason   string `json:"reason"`   // why
}

// ResolveResult is the answer to Resolve: the invoice resolved, or (Accepted) the
// decision is in the inbox and the shard's owner had not applied it yet (read the invoice
// later).
type ResolveResult struct {
	Invoice   *InvoiceView
	Accepted  bool
	MessageID string
}

// Resolve decides an invoice in review or unmatched paid or failed. ReadKey must be of
// scope operator (ErrForbidden otherwise). The same decision again changes nothing;
// another decision on a resolved invoice is ErrConflict.
func (c *Client) Resolve(ctx context.Context, invoiceID string, r ResolveRequest) (*ResolveResult, error) {
	if c.cfg.WorkerURL == "" {
		return nil, errNoService("WorkerURL")
	}
	var raw json.RawMessage
	_, status, err := c.call(ctx, http.MethodPost, c.cfg.WorkerURL+"/v1/invoices/"+url.PathEscape(invoiceID)+"/resolve", c.cfg.ReadKey, r, nil, &raw)
	if err != nil {
		return nil, err
	}
	if status == http.StatusAccepted {
		var a struct {
			MessageID string `json:"messageId"`
		}
		err := json.Unmarshal(raw, &a)
		return &ResolveResult{Accepted: true, MessageID: a.MessageID}, err
	}
	var v InvoiceView
	if err := json.Unmarshal(raw, &v); err != nil {
		return nil, err
	}
	return &ResolveResult{Invoice: &v}, nil
}
