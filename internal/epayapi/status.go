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
	"time"

	"github.com/epayflow/epayflow/internal/jsonscan"
)

// ResultCode is the status API's result code; ePay sends it as a string.
type ResultCode string

// Result codes of the status API.
const (
	ResultSuccess         ResultCode = "100"
	ResultRejected        ResultCode = "101"
	ResultNotFound        ResultCode = "102"
	ResultError           ResultCode = "103"
	ResultNoTerminal      ResultCode = "104" // terminal missing from the token
	ResultWrongTerminal   ResultCode = "106"
	ResultInProgress      ResultCode = "107" // try later
	ResultForeignTerminal ResultCode = "109" // terminal is not the client's
)

// Errors for result codes other than 100; test with errors.Is.
var (
	ErrStatusRejected        = errors.New("epay status: rejected")
	ErrStatusNotFound        = errors.New("epay status: transaction not found")
	ErrStatusError           = errors.New("epay status: error")
	ErrStatusNoTerminal      = errors.New("epay status: terminal missing from the token")
	ErrStatusWrongTerminal   = errors.New("epay status: wrong terminal")
	ErrStatusInProgress      = errors.New("epay status: in progress, try later")
	ErrStatusForeignTerminal = errors.New("epay status: terminal does not belong to the client")
	ErrStatusUnknown         = errors.New("epay status: unknown result code")
)

var resultErrs = map[ResultCode]error{
	ResultRejected: ErrStatusRejected, ResultNotFound: ErrStatusNotFound, ResultError: ErrStatusError,
	ResultNoTerminal: ErrStatusNoTerminal, ResultWrongTerminal: ErrStatusWrongTerminal,
	ResultInProgress: ErrStatusInProgress, ResultForeignTerminal: ErrStatusForeignTerminal,
}

// Err is nil for ResultSuccess and the matching sentinel otherwise.
func (c ResultCode) Err() error {
	if c == ResultSuccess {
		return nil
	}
	if err, ok := resultErrs[c]; ok {
		return err
	}
	return fmt.Errorf("%w %q", ErrStatusUnknown, clip(string(c)))
}

// PaymentStatus is the answer of the payment status check.
type PaymentStatus struct {
	ResultCode    ResultCode
	ResultMessage string
	Transaction   *Transaction // nil when ePay sent none
	Raw           json.RawMessage
}

// P2PStatus is the answer of the P2P status check.
type P2PStatus struct {
	Code        ResultCode
	Message     string
	Transaction *Transaction
	Raw         json.RawMessage
}

// PaymentStatus asks GET {APIURL}/check-status/payment/transaction/{invoiceID} with a
// fresh service token. It returns the decoded answer whenever ePay gave one, and with
// it ResultCode.Err() (ErrStatusNotFound, ErrStatusInProgress, ...). Other errors: as
// ServiceToken, plus *APIError and ErrBadResponse for the status call.
func (c *Client) PaymentStatus(ctx context.Context, invoiceID string) (*PaymentStatus, error) {
	return c.PaymentStatusOn(ctx, "", invoiceID)
}

// PaymentStatusOn is PaymentStatus with a service token of terminal: the invoice's own,
// which ePay's answer must be asked with (a token of another terminal is answered 106,
// wrong terminal), whatever EPAY_TERMINAL says now. "" is EPAY_TERMINAL.
func (c *Client) PaymentStatusOn(ctx context.Context, terminal, invoiceID string) (*PaymentStatus, error) {
	var body paymentStatusBody
	raw, err := c.status(ctx, cmp.Or(terminal, c.cfg.Terminal), "/check-status/payment/transaction/", invoiceID, &body)
	if err != nil {
		return nil, err
	}
	return body.status(raw)
}

// paymentStatusBody is the payment status answer as sent.
type paymentStatusBody struct {
	ResultCode    json.RawMessage `json:"resultCode"`
	ResultMessage json.RawMessage `json:"resultMessage"`
	Transaction   *Transaction    `json:"transaction"`
}

// parsePaymentStatus reads a payment status answer (the fuzz target's entry).
func parsePaymentStatus(raw []byte) (*PaymentStatus, error) {
	var body paymentStatusBody
	if err := json.Unmarshal(raw, &body); err != nil {
		return nil, fmt.Errorf("%w: status answer: %v", ErrBadResponse, err)
	}
	return body.status(raw)
}

func (body paymentStatusBody) status(raw json.RawMessage) (*PaymentStatus, error) {
	s := &PaymentStatus{Transaction: body.Transaction, Raw: raw}
	code, _ := jsonscan.ScalarText(body.ResultCode)
	s.ResultCode = ResultCode(code)
	s.ResultMessage, _ = jsonscan.ScalarText(body.ResultMessage)
	if s.ResultCode == "" {
		return nil, fmt.Errorf("%w: payment status has no resultCode", ErrBadResponse)
	}
	return s, resultErr(s.ResultCode, s.ResultMessage)
}

// P2PStatus asks GET {APIURL}/check-status/p2p/transaction/{order} (epayment.kz docs
// "check-status-p2p"; {order} is the transfer's invoiceId). The answer carries
// result{code,message} and the transaction nested one level deeper than the payment
// answer's: transaction{p2p{...}} (a flat transaction{...} is read too). The service
// token is the P2P terminal's. Errors as PaymentStatus.
func (c *Client) P2PStatus(ctx context.Context, order string) (*P2PStatus, error) {
	return c.P2PStatusOn(ctx, "", order)
}

// P2PStatusOn is P2PStatus with a service token of terminal, the transfer's own (an
// invoice made before EPAY_P2P_TERMINAL was set, or by an initiator configured otherwise,
// names another than the worker's setting). "" is the P2P terminal.
func (c *Client) P2PStatusOn(ctx context.Context, terminal, order string) (*P2PStatus, error) {
	var body p2pStatusBody
	raw, err := c.status(ctx, cmp.Or(terminal, c.cfg.p2pTerminal()), "/check-status/p2p/transaction/", order, &body)
	if err != nil {
		return nil, err
	}
	return body.status(raw)
}

// p2pStatusBody is the P2P status answer as sent.
type p2pStatusBody struct {
	Result struct {
		Code    json.RawMessage `json:"code"`
		Message json.RawMessage `json:"message"`
	} `json:"result"`
	Transaction *p2pTransaction `json:"transaction"`
}

// parseP2PStatus reads a P2P status answer (the fuzz target's entry).
func parseP2PStatus(raw []byte) (*P2PStatus, error) {
	var body p2pStatusBody
	if err := json.Unmarshal(raw, &body); err != nil {
		return nil, fmt.Errorf("%w: P2P status answer: %v", ErrBadResponse, err)
	}
	return body.status(raw)
}

func (body p2pStatusBody) status(raw json.RawMessage) (*P2PStatus, error) {
	s := &P2PStatus{Raw: raw}
	if body.Transaction != nil {
		s.Transaction = body.Transaction.tx
	}
	code, _ := jsonscan.ScalarText(body.Result.Code)
	s.Code = ResultCode(code)
	s.Message, _ = jsonscan.ScalarText(body.Result.Message)
	if s.Code == "" {
		return nil, fmt.Errorf("%w: P2P status has no result.code", ErrBadResponse)
	}
	return s, resultErr(s.Code, s.Message)
}

// p2pTransaction is the transaction of a P2P answer: {"p2p":{...}} as documented, or
// the transaction itself when it has no "p2p" key. tx is nil for {"p2p":null}.
type p2pTransaction struct{ tx *Transaction }

func (p *p2pTransaction) UnmarshalJSON(b []byte) error {
	var outer map[string]json.RawMessage
	if err := json.Unmarshal(b, &outer); err != nil {
		return fmt.Errorf("transaction: %w", err)
	}
	inner, nested := outer["p2p"]
	if !nested {
		inner = b
	}
	if string(inner) == "null" {
		return nil
	}
	p.tx = new(Transaction)
	return p.tx.UnmarshalJSON(inner)
}

func resultErr(code ResultCode, msg string) error {
	err := code.Err()
	if err == nil || msg == "" {
		return err
	}
	return fmt.Errorf("%w: %s", err, clip(msg))
}

// noVerdictAnswer says whether a 4xx status answer is a status document that gives no
// verdict, read as one: ePay's "102 transaction not found" or "107 in progress" sent
// with HTTP 400 (as public clients of this API read it). Reading it lets the checker
// count it as an answer (a reconciliation ends after so many), where an error would be
// "no answer", asked again for ever. A 4xx with any other result code stays an error:
// a verdict on money is only read from a 2xx.
func noVerdictAnswer(status int, body []byte) bool {
	if status < 400 || status > 499 || status == http.StatusUnauthorized || status == http.StatusForbidden {
		return false
	}
	var probe struct {
		ResultCode json.RawMessage `json:"resultCode"`
		Result     struct {
			Code json.RawMessage `json:"code"`
		} `json:"result"`
	}
	if json.Unmarshal(body, &probe) != nil {
		return false
	}
	code := probe.ResultCode
	if code == nil {
		code = probe.Result.Code
	}
	text, err := jsonscan.ScalarText(code)
	return err == nil && (ResultCode(text) == ResultNotFound || ResultCode(text) == ResultInProgress)
}

// status gets a service token for terminal, then the status document at path+id into out.
func (c *Client) status(ctx context.Context, terminal, path, id string, out any) (raw json.RawMessage, err error) {
	start := time.Now()
	defer func() { c.m.statusDuration.Observe(time.Since(start).Seconds()) }()
	if id == "" || strings.ContainsAny(id, "/?#") {
		return nil, fmt.Errorf("%w: id %q", ErrRequest, clip(id))
	}
	tok, err := c.serviceToken(ctx, terminal)
	if err != nil {
		return nil, err
	}
	target := strings.TrimSuffix(c.cfg.APIURL, "/") + path + url.PathEscape(id)
	resp, err := c.do(ctx, "status", func(ctx context.Context) (*http.Request, error) {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, target, nil)
		if err != nil {
			return nil, err
		}
		req.Header.Set("Authorization", "Bearer "+tok.AccessToken)
		req.Header.Set("Accept", "application/json")
		return req, nil
	})
	if err != nil {
		return nil, err
	}
	if (resp.status < 200 || resp.status > 299) && !noVerdictAnswer(resp.status, resp.body) {
		return nil, newAPIError(resp.status, resp.body, c.scrub(tok.AccessToken))
	}
	if err := json.Unmarshal(resp.body, out); err != nil {
		return nil, fmt.Errorf("%w: status answer: %v", ErrBadResponse, err)
	}
	return json.RawMessage(resp.body), nil
}

// Transaction statuses (transaction.statusName).
const (
	StatusNew         = "NEW"
	StatusAuth        = "AUTH"
	StatusCharge      = "CHARGE"
	StatusCancel      = "CANCEL"
	StatusCancelOld   = "CANCEL_OLD"
	StatusRefund      = "REFUND"
	StatusReject      = "REJECT"
	StatusFailed      = "FAILED"
	Status3D          = "3D"
	StatusVerified    = "VERIFIED"
	StatusFingerprint = "FINGERPRINT"
)
