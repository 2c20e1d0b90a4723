package sandbox

import (
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"

	"github.com/epayflow/epayflow/internal/epay"
	"github.com/epayflow/epayflow/internal/epaytest"
)

// statusTxn is the transaction object of the status API, with the fields of ePay's
// documented sample in their order. Types differ from the callback on purpose, as on
// ePay: secure is a boolean, reasonCode a string, data a JSON-encoded string.
//
// terminal is ePay's own processing terminal (8 digits), terminalID the merchant's
// terminal (the UUID of the token and the invoice). orgAmount is the authorised sum,
// payoutAmount what was refunded, amount what the transaction still holds or took
// (see txn.balance).
type statusTxn struct {
	ID           string      `json:"id"`
	CreatedDate  string      `json:"createdDate"`
	InvoiceID    string      `json:"invoiceID"`
	Amount       epay.Amount `json:"amount"`
	AmountBonus  epay.Amount `json:"amountBonus"`
	PayoutAmount epay.Amount `json:"payoutAmount"`
	OrgAmount    epay.Amount `json:"orgAmount"`
	ApprovalCode string      `json:"approvalCode"`
	Data         string      `json:"data"`
	Currency     string      `json:"currency"`
	Terminal     string      `json:"terminal"`
	TerminalID   string      `json:"terminalID"`
	AccountID    string      `json:"accountID"`
	Description  string      `json:"description"`
	Language     string      `json:"language"`
	CardMask     string      `json:"cardMask"`
	CardType     string      `json:"cardType"`
	Issuer       string      `json:"issuer"`
	Reference    string      `json:"reference"`
	IntReference string      `json:"intReference"`
	Secure       bool        `json:"secure"`
	StatusID     string      `json:"statusID"`
	StatusName   string      `json:"statusName"`
	Reason       string      `json:"reason"`
	ReasonCode   string      `json:"reasonCode"`
	Name         string      `json:"name"`
	Email        string      `json:"email"`
	Phone        string      `json:"phone"`
	CardID       string      `json:"cardID"`
	IP           string      `json:"ip"`
}

// createdDateLayout is RFC 3339 with microseconds, as in ePay's status samples.
const createdDateLayout = "2006-01-02T15:04:05.000000Z07:00"

func newStatusTxn(t txn) *statusTxn {
	reason, _ := epay.Reason(t.reasonCode)
	if t.approved() {
		reason.EN = "success"
	}
	return &statusTxn{
		ID: t.id, CreatedDate: t.created.In(epaytest.Zone).Format(createdDateLayout), InvoiceID: t.invoiceID,
		Amount: t.balance(), PayoutAmount: t.refunded, OrgAmount: t.amount, ApprovalCode: t.approvalCode,
		Data: "{}", Currency: t.currency, Terminal: processingTerminal(t.terminal), TerminalID: t.terminal,
		AccountID: t.accountID, Description: t.description, Language: epaytest.Language(t.language),
		CardMask: t.card.Mask, CardType: t.card.Type, Issuer: t.card.Issuer, Reference: t.reference,
		StatusID: statusID(t.status), StatusName: t.status, Reason: reason.EN,
		ReasonCode: strconv.Itoa(t.reasonCode), Name: t.holder, Email: t.email, Phone: t.phone,
		CardID: t.card.ID, IP: t.ip,
	}
}

// processingTerminal is ePay's own terminal number for a merchant terminal: 8 digits,
// "98" and six from a hash of the merchant terminal, so stable per terminal (ePay's
// samples show 98120001, 98458031, 98151552).
func processingTerminal(merchant string) string {
	sum := sha256.Sum256([]byte("sandbox-terminal:" + strings.ToLower(strings.TrimSpace(merchant))))
	return fmt.Sprintf("98%06d", binary.BigEndian.Uint32(sum[:4])%1_000_000)
}

// statusID is the UUID the status API gives a status name: the sandbox's own values,
// stable per name.
func statusID(name string) string {
	sum := sha256.Sum256([]byte("sandbox-status:" + name))
	return epaytest.UUIDFrom(sum[:16])
}

// Result codes of the status API (strings, as ePay sends them).
const (
	resultOK               = "100"
	resultRejected         = "101"
	resultNotFound         = "102"
	resultNoTerminal       = "104"
	resultWrongTerminal    = "106"
	resultInProgress       = "107"
	messageOK              = "SUCCESS"
	messageRejected        = "transaction rejected"
	messageNotFound        = "transaction not found"
	messageNoTerminal      = "terminal is missing from the token"
	messageWrongTerminal   = "the transaction belongs to another terminal"
	messageInProgress      = "transaction in progress, try later"
	messageUnauthenticated = "invalid or expired token"
)

// lookup answers a status request: result code, message and the transaction if any.
// A transaction with pending checks (ePay's NOT FINAL outcome) answers "107" without
// the transaction, and each such answer uses one check up.
func (s *Sandbox) lookup(r *http.Request, invoiceID string) (string, string, *statusTxn, bool) {
	tok, ok := s.serviceToken(r)
	if !ok {
		return "", "", nil, false
	}
	if tok.terminal == "" {
		return resultNoTerminal, messageNoTerminal, nil, true
	}
	t, found, inProgress := s.store.statusTxn(invoiceID, tok.terminal)
	switch {
	case !found:
		return resultNotFound, messageNotFound, nil, true
	case t.terminal != tok.terminal:
		return resultWrongTerminal, messageWrongTerminal, nil, true
	case inProgress:
		return resultInProgress, messageInProgress, nil, true
	case !t.approved():
		return resultRejected, messageRejected, newStatusTxn(t), true
	}
	return resultOK, messageOK, newStatusTxn(t), true
}

func (s *Sandbox) handleStatus(w http.ResponseWriter, r *http.Request) {
	code, msg, t, ok := s.lookup(r, r.PathValue("invoiceId"))
	if !ok {
		writeUnauthorized(w)
		return
	}
	writeJSON(w, http.StatusOK, struct {
		ResultCode    string     `json:"resultCode"`
		ResultMessage string     `json:"resultMessage"`
		Transaction   *statusTxn `json:"transaction,omitempty"`
	}{code, msg, t})
}

func (s *Sandbox) handleP2PStatus(w http.ResponseWriter, r *http.Request) {
	code, msg, t, ok := s.lookup(r, r.PathValue("order"))
	if !ok {
		writeUnauthorized(w)
		return
	}
	type result struct {
		Code    string `json:"code"`
		Message string `json:"message"`
	}
	type p2pTxn struct {
		P2P *statusTxn `json:"p2p"`
	}
	var tx *p2pTxn // as documented, the transaction is under transaction.p2p
	if t != nil {
		tx = &p2pTxn{t}
	}
	writeJSON(w, http.StatusOK, struct {
		Result      result  `json:"result"`
		Transaction *p2pTxn `json:"transaction,omitempty"`
	}{result{code, msg}, tx})
}

// serviceToken returns the Bearer token of the request when it is a valid, unexpired
// token of the service scope.
func (s *Sandbox) serviceToken(r *http.Request) (*token, bool) {
	scheme, access, ok := strings.Cut(r.Header.Get("Authorization"), " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") {
		return nil, false
	}
	tok, ok := s.store.validToken(strings.TrimSpace(access), s.cfg.Now())
	if !ok || !tok.service {
		return nil, false
	}
	return tok, true
}

// opErrors lists the operation errors the sandbox refuses with. ePay documents one error
// answer for its operations (epayment.kz docs "vozvrat-chastichnyi-vozvrat", "cancel"):
// HTTP 400 with {"code": 100, "message": ""}, a number, whatever the rule; the sandbox
// answers that, with the rule in the message (ePay's is empty in the sample).
var opErrors = []error{errTxnNotFound, errWrongStatus, errBadAmount, errChargeTooLarge,
	errRefundTooSmall, errRefundTooLarge, errDuplicateRefund, errOtherTerminal}

// opErrorCode is the code of every refusal of an operation, as ePay documents it.
const opErrorCode = 100

var errOtherTerminal = errors.New("the transaction belongs to another terminal")

// handleOperation serves POST /operation/{id}/charge|cancel|refund.
func (s *Sandbox) handleOperation(w http.ResponseWriter, r *http.Request) {
	tok, ok := s.serviceToken(r)
	if !ok {
		writeUnauthorized(w)
		return
	}
	op := r.PathValue("op")
	if op != "charge" && op != "cancel" && op != "refund" {
		http.Error(w, "unknown operation "+strconv.Quote(truncate(op)), http.StatusNotFound)
		return
	}
	amount, err := queryAmount(r)
	if err == nil {
		_, err = s.store.updateTxn(r.PathValue("id"), func(t *txn) error {
			if t.terminal != tok.terminal {
				return errOtherTerminal
			}
			switch op {
			case "charge":
				return t.charge(amount)
			case "cancel":
				return t.cancel()
			}
			return t.refund(amount, r.URL.Query().Get("externalID"))
		})
	}
	if err != nil {
		for _, e := range opErrors {
			if errors.Is(err, e) {
				writeJSON(w, http.StatusBadRequest, struct {
					Code    int    `json:"code"`
					Message string `json:"message"`
				}{opErrorCode, err.Error()})
				return
			}
		}
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	s.log.Info("operation", "op", op, "transactionId", r.PathValue("id"))
	w.WriteHeader(http.StatusOK)
}

func queryAmount(r *http.Request) (*epay.Amount, error) {
	v := r.URL.Query().Get("amount")
	if v == "" {
		return nil, nil
	}
	a, err := epay.ParseAmount(v)
	if err != nil {
		return nil, errors.Join(errBadAmount, err)
	}
	return &a, nil
}

// writeUnauthorized answers a request without a valid service token.
func writeUnauthorized(w http.ResponseWriter) {
	writeJSON(w, http.StatusUnauthorized, struct {
		Code    string `json:"code"`
		Message string `json:"message"`
	}{"unauthorized", messageUnauthenticated})
}
