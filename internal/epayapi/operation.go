package epayapi

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"

	"github.com/epayflow/epayflow/internal/epay"
	"github.com/epayflow/epayflow/internal/jsonscan"
)

// Operations of ePay's operation API (epayment.kz docs "vozvrat-chastichnyi-vozvrat",
// "cancel", "podtverzhdenie-chastichnoe-podtverzhdenie-operacii"): what follows a
// payment, on its transaction id (the callback's id, not the invoiceId).
const (
	OpCharge = "charge" // POST /operation/{id}/charge[?amount=]: AUTH only, full or partial
	OpCancel = "cancel" // POST /operation/{id}/cancel: AUTH only, the hold released
	OpRefund = "refund" // POST /operation/{id}/refund[?amount=&externalID=]: CHARGE only, at least 10 KZT
)

// MinRefundKZT is the smallest refund ePay takes in tenge (the refund page: "the
// minimum refund amount is 10 tenge").
const MinRefundKZT epay.Amount = 10_00

// ErrOperationRefused: ePay answered the operation with a 4xx: it was not made. The
// error is also an *APIError with ePay's code and message (documented as
// {"code": 100, "message": ""}).
var ErrOperationRefused = errors.New("epay: operation refused")

// ErrOperationUnclear: ePay answered the operation with a 2xx whose body is its error
// document ({"code": …} with a code other than 0): the cancel page prints its error
// under "Response Http status 200". Whether it was made is not known; ask the status.
var ErrOperationUnclear = errors.New("epay: operation answered 2xx with an error body")

// OperationRequest is one charge, cancel or refund.
type OperationRequest struct {
	Op            string       // OpCharge, OpCancel or OpRefund
	TransactionID string       // the transaction's id in ePay
	Amount        *epay.Amount // nil: the whole amount (charge, refund); never sent with cancel
	// ExternalID is the merchant's id of a refund (externalID), sent with refunds only.
	ExternalID string
	// Terminal is the transaction's terminal, the service token's ("": EPAY_TERMINAL).
	Terminal string
}

// Operate sends req with a fresh service token, once: an operation moves money, so a
// network error, a 5xx or a timeout is not retried here (its outcome is unknown; ask
// the status API). nil means ePay answered 2xx: the operation was made. Errors:
// ErrOperationRefused (with *APIError) for a 4xx; ErrRequest for a request that cannot
// be sent; ErrTimeout or ErrEPayUnavailable when the outcome is unknown; the token's
// errors as ServiceToken (nothing was sent).
func (c *Client) Operate(ctx context.Context, req OperationRequest) error {
	target, err := c.operationURL(req)
	if err != nil {
		return err
	}
	tok, err := c.serviceToken(ctx, cmp.Or(req.Terminal, c.cfg.Terminal))
	if err != nil {
		return err
	}
	once := *c
	once.cfg.MaxAttempts = 1
	resp, err := once.do(ctx, "operation "+req.Op, func(ctx context.Context) (*http.Request, error) {
		r, err := http.NewRequestWithContext(ctx, http.MethodPost, target, nil)
		if err != nil {
			return nil, err
		}
		r.Header.Set("Authorization", "Bearer "+tok.AccessToken)
		r.Header.Set("Accept", "application/json")
		return r, nil
	})
	if err != nil {
		return err
	}
	if resp.status < 200 || resp.status > 299 {
		return fmt.Errorf("%w: %w", ErrOperationRefused, newAPIError(resp.status, resp.body, c.scrub(tok.AccessToken)))
	}
	if errorBody(resp.body) {
		return fmt.Errorf("%w: %w", ErrOperationUnclear, newAPIError(resp.status, resp.body, c.scrub(tok.AccessToken)))
	}
	return nil
}

// errorBody says whether a 2xx operation answer is ePay's error document: an object
// with a "code" other than 0 ("" and null are no code).
func errorBody(body []byte) bool {
	var doc struct {
		Code json.RawMessage `json:"code"`
	}
	if json.Unmarshal(body, &doc) != nil {
		return false
	}
	code, err := jsonscan.ScalarText(doc.Code)
	return err != nil || code != "" && code != "0"
}

// operationURL is {APIURL}/operation/{id}/{op} with the query ePay documents.
func (c *Client) operationURL(req OperationRequest) (string, error) {
	if req.TransactionID == "" || strings.ContainsAny(req.TransactionID, "/?#") {
		return "", fmt.Errorf("%w: transaction id %q", ErrRequest, clip(req.TransactionID))
	}
	q := url.Values{}
	switch req.Op {
	case OpCharge, OpRefund:
		if req.Amount != nil {
			if *req.Amount <= 0 {
				return "", fmt.Errorf("%w: %s of %s", ErrRequest, req.Op, req.Amount)
			}
			q.Set("amount", req.Amount.String())
		}
		if req.Op == OpRefund && req.ExternalID != "" {
			q.Set("externalID", req.ExternalID)
		}
	case OpCancel:
	default:
		return "", fmt.Errorf("%w: unknown operation %q", ErrRequest, clip(req.Op))
	}
	target := strings.TrimSuffix(c.cfg.APIURL, "/") + "/operation/" + url.PathEscape(req.TransactionID) + "/" + req.Op
	if len(q) > 0 {
		target += "?" + q.Encode()
	}
	return target, nil
}
