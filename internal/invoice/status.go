package invoice

import (
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/epayflow/epayflow/internal/epay"
)

// MsgStatus is the kind of a status message: what ePay's status API said about an
// invoice, asked by the worker's confirmer or reconciler and published to the inbox so
// that it is applied in order, deduplicated and in one transaction like a callback.
const MsgStatus MessageKind = "status"

// Why a status was asked.
const (
	PurposeConfirm   = "confirm"   // a success callback waits for it
	PurposeReconcile = "reconcile" // the invoice stayed created too long
)

// ConfirmationPending is Invoice.Confirmation while a success callback waits for the
// status API.
const ConfirmationPending = "pending"

// Status is one answer of ePay's status API (GET /check-status/payment/transaction/{invoiceId}).
type Status struct {
	// Check numbers the invoice's status answers: StatusChecks + 1 when it was asked.
	// It is part of the message id, so that a second "not found" is a new message while
	// the same answer published twice is one.
	Check         int         `json:"check"`
	Purpose       string      `json:"purpose"`
	ResultCode    string      `json:"resultCode"` // "100" success, "101" rejected, "102" not found, ...
	ResultMessage string      `json:"resultMessage,omitempty"`
	StatusName    string      `json:"statusName,omitempty"` // transaction.statusName: CHARGE, AUTH, REJECT, ...
	TransactionID string      `json:"transactionId,omitempty"`
	Amount        epay.Amount `json:"amount"`
	Currency      string      `json:"currency,omitempty"`
	Terminal      string      `json:"terminal,omitempty"`
	CardMask      string      `json:"cardMask,omitempty"`
	ReasonCode    int         `json:"reasonCode,omitempty"`
	Reason        string      `json:"reason,omitempty"`
	AskedAt       time.Time   `json:"askedAt"`
	// Raw is ePay's answer verbatim.
	Raw json.RawMessage `json:"raw,omitempty"`
}

// StatusMessage makes the message of a status answer.
func StatusMessage(id, invoiceID string, s Status, receivedAt time.Time) Message {
	return Message{ID: id, Kind: MsgStatus, InvoiceID: invoiceID, ReceivedAt: receivedAt, Status: &s}
}

// Paid reports whether the answer says the money was taken: result 100 with the
// transaction in CHARGE or AUTH.
func (s *Status) Paid() bool {
	return s.ResultCode == "100" && (s.StatusName == "CHARGE" || s.StatusName == "AUTH")
}

// Declined reports whether the answer says the payment failed: result 101, or a
// transaction in REJECT or FAILED.
func (s *Status) Declined() bool {
	return s.ResultCode == "101" || s.StatusName == "REJECT" || s.StatusName == "FAILED"
}

// Summary is "<resultCode> <statusName>", for the invoice and review reasons.
func (s *Status) Summary() string {
	return strings.TrimSpace(s.ResultCode + " " + s.StatusName)
}

func (s *Status) validate() error {
	if s.ResultCode == "" {
		return fmt.Errorf("%w: status without a result code", ErrInvalid)
	}
	if s.Check < 1 {
		return fmt.Errorf("%w: status check number %d", ErrInvalid, s.Check)
	}
	if s.Purpose != PurposeConfirm && s.Purpose != PurposeReconcile {
		return fmt.Errorf("%w: status purpose %q", ErrInvalid, s.Purpose)
	}
	return nil
}

// payment is the status answer as a payment, to compare and record it like a callback.
func (s *Status) payment(raw json.RawMessage) *Payment {
	return &Payment{TransactionID: s.TransactionID, Amount: s.Amount, Currency: s.Currency, Terminal: s.Terminal,
		CardMask: s.CardMask, ReasonCode: s.ReasonCode, Reason: s.Reason, Verified: true, Raw: raw}
}

// applyStatus applies a status answer (already deduplicated) to a known invoice.
//
//	paid invoice or unmatched          -> history only
//	says paid, matches the invoice     -> paid (+paid)
//	says paid, does not match          -> review (+review), unless already in review
//	says otherwise, a claim waits      -> review (+review: "not confirmed"), unless already in review
//	says declined, created, no claim   -> failed (+failed)
//	anything else                      -> history only (the reconciler asks again later)
func applyStatus(inv Invoice, msg Message, now time.Time) (Invoice, []Event) {
	inv.touch(now)
	s := msg.Status
	inv.StatusChecks = max(inv.StatusChecks, s.Check)
	inv.LastStatus, inv.LastStatusAt = s.Summary(), now
	if inv.State == StatePaid || inv.State == StateUnmatched {
		return inv, nil
	}
	claim := inv.ConfirmClaim
	raw := s.Raw
	if claim != nil {
		raw = claim.Raw // the event carries the callback that the status confirmed
	}
	inv.clearClaim()
	switch p := s.payment(raw); {
	case s.Paid():
		if problem := mismatch(inv, p); problem != "" {
			if inv.State == StateReview {
				return inv, nil
			}
			return inv.toReview("status "+s.Summary()+": "+problem, p, now)
		}
		inv.State = StatePaid
		inv.setPayment(p)
		inv.PaidAt = now
		if claim != nil {
			inv.CardMask = claim.CardMask
			inv.PaidAt = paidAt(claim, now)
		}
		return inv, []Event{inv.event(EventPaid, "", p, now)}
	case claim != nil && inv.State == StateReview:
		return inv, nil // already for a human; history keeps the answer
	case claim != nil:
		return inv.toReview("not confirmed: ePay status says "+s.Summary(), claim, now)
	case s.Declined() && inv.State == StateCreated:
		inv.State = StateFailed
		inv.setPayment(p)
		return inv, []Event{inv.event(EventFailed, "", p, now)}
	}
	return inv, nil
}

func (inv Invoice) toReview(reason string, p *Payment, now time.Time) (Invoice, []Event) {
	inv.State = StateReview
	inv.setPayment(p)
	inv.ReviewReason = reason
	return inv, []Event{inv.event(EventReview, reason, p, now)}
}
