package invoice

import (
	"encoding/json"
	"fmt"
	"slices"
	"strconv"
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

// Invoice.Confirmation values: what the invoice waits for from ePay's status API.
const (
	// ConfirmationPending: a success callback waits to be confirmed.
	ConfirmationPending = "pending"
	// ConfirmationNotFinal: a failure callback whose outcome ePay calls not final (a
	// reason code such as 454: "not final, request the payment status") waits for ePay's
	// final answer. The invoice stays open; the failure is not believed.
	ConfirmationNotFinal = "not_final"
)

// Status is one answer of ePay's status API (GET /check-status/payment/transaction/{invoiceId},
// or /check-status/p2p/transaction/{order} for a transfer), or the checker's note that
// none came.
type Status struct {
	// Check numbers the invoice's status answers: StatusChecks + 1 when it was asked.
	// It is part of the message id, so that a second "not found" is a new message while
	// the same answer published twice is one.
	Check      int    `json:"check"`
	Purpose    string `json:"purpose"`
	API        string `json:"api,omitempty"`        // "payment" or "p2p": which status API answered
	ResultCode string `json:"resultCode,omitempty"` // "100" success, "101" rejected, "102" not found, ...
	// ResultMessage, StatusName and the rest are ePay's answer, read by epayapi.
	ResultMessage string `json:"resultMessage,omitempty"`
	StatusName    string `json:"statusName,omitempty"` // transaction.statusName: CHARGE, AUTH, REJECT, ...
	TransactionID string `json:"transactionId,omitempty"`
	// Amount is the amount the transaction was made for (orgAmount, else amount): what
	// is compared with the invoice. Refunded is what ePay says was paid back since.
	Amount   epay.Amount `json:"amount"`
	Refunded epay.Amount `json:"refunded,omitempty"`
	Currency string      `json:"currency,omitempty"`
	// Terminal is the merchant's terminal (terminalID), compared with the invoice;
	// ProcessingTerminal is ePay's own (terminal).
	Terminal           string `json:"terminal,omitempty"`
	ProcessingTerminal string `json:"processingTerminal,omitempty"`
	CardMask           string `json:"cardMask,omitempty"`
	// AccountID and Bonus: the transaction's accountID and amountBonus, judged as a
	// callback's are (mismatch).
	AccountID  string      `json:"accountId,omitempty"`
	Bonus      epay.Amount `json:"bonus,omitempty"`
	ReasonCode int         `json:"reasonCode,omitempty"`
	Reason     string      `json:"reason,omitempty"`
	// GiveUp: the checker's bound for a final answer (WORKER_FINAL_WITHIN) has passed
	// for the invoice's claim; an answer that is still not final sends it to review.
	GiveUp bool `json:"giveUp,omitempty"`
	// Unanswered says why ePay gave no answer (unreachable, a malformed answer); only
	// with GiveUp, and then ResultCode may be empty.
	Unanswered string    `json:"unanswered,omitempty"`
	AskedAt    time.Time `json:"askedAt"`
	// Raw is ePay's answer verbatim.
	Raw json.RawMessage `json:"raw,omitempty"`
}

// StatusMessage makes the message of a status answer.
func StatusMessage(id, invoiceID string, s Status, receivedAt time.Time) Message {
	return Message{ID: id, Kind: MsgStatus, InvoiceID: invoiceID, ReceivedAt: receivedAt, Status: &s}
}

// Verdict is what a status answer says of the money.
type Verdict string

// Verdicts of a status answer.
const (
	// VerdictPaid: result 100 with the transaction in CHARGE or AUTH.
	VerdictPaid Verdict = "paid"
	// VerdictDeclined: a final failure: result 101, or a transaction in REJECT or
	// FAILED, with a reason code ePay does not call "not final".
	VerdictDeclined Verdict = "declined"
	// VerdictNotFound: result 102. ePay may not have indexed a fresh payment yet.
	VerdictNotFound Verdict = "not_found"
	// VerdictNotFinal: ePay has no final word yet: 107 (in progress), a transaction in
	// NEW, 3D, FINGERPRINT or VERIFIED, a failure with a "not final" reason code, a
	// result code that is about the request rather than the payment (103, 104, 106,
	// 109, unknown ones), or no answer at all.
	VerdictNotFinal Verdict = "not_final"
	// VerdictReversed: final, and the money is not with the merchant: CANCEL,
	// CANCEL_OLD, REFUND.
	VerdictReversed Verdict = "reversed"
	// VerdictStrange: result 100 without a transaction, or with a statusName ePay does
	// not document. Never paid; a human looks.
	VerdictStrange Verdict = "strange"
)

// Verdict classifies the answer (documented in docs/WORKER.md, table checked by a test).
func (s *Status) Verdict() Verdict {
	failure := func() Verdict {
		if epay.ReasonFinality(s.ReasonCode) == epay.NotFinal {
			return VerdictNotFinal
		}
		return VerdictDeclined
	}
	switch s.ResultCode {
	case "100":
	case "101":
		return failure()
	case "102":
		return VerdictNotFound
	default: // 107, 103, 104, 106, 109, unknown codes, or no answer
		return VerdictNotFinal
	}
	switch s.StatusName {
	case "CHARGE", "AUTH":
		return VerdictPaid
	case "REJECT", "FAILED":
		return failure()
	case "NEW", "3D", "FINGERPRINT", "VERIFIED":
		return VerdictNotFinal
	case "CANCEL", "CANCEL_OLD", "REFUND":
		return VerdictReversed
	}
	return VerdictStrange
}

// Paid reports whether the answer says the money was taken.
func (s *Status) Paid() bool { return s.Verdict() == VerdictPaid }

// Declined reports whether the answer says the payment failed, finally.
func (s *Status) Declined() bool { return s.Verdict() == VerdictDeclined }

// Summary is "<resultCode> <statusName>" (and the reason code of a failure), for the
// invoice and review reasons; "no answer" when ePay gave none.
func (s *Status) Summary() string {
	if s.ResultCode == "" {
		return "no answer"
	}
	sum := strings.TrimSpace(s.ResultCode + " " + s.StatusName)
	if s.ReasonCode != 0 {
		sum += " reason " + strconv.Itoa(s.ReasonCode)
	}
	return sum
}

func (s *Status) validate() error {
	if s.ResultCode == "" && (s.Unanswered == "" || !s.GiveUp) {
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
		CardMask: s.CardMask, AccountID: s.AccountID, Bonus: s.Bonus, ReasonCode: s.ReasonCode, Reason: s.Reason, Verified: true, Raw: raw}
}

// applyStatus applies a status answer (already deduplicated) to a known invoice. With
// a verified claim waiting (Confirmation set):
//
//	paid, matches the invoice          -> paid (+paid)
//	paid, does not match               -> review (+review), unless in review already
//	declined, a success claim          -> review ("not confirmed: ..."), unless in review already
//	declined, a not-final failure      -> failed (+failed) if still created, else history only
//	not found or not final             -> history only, the claim waits; with GiveUp -> review
//	reversed or strange                -> review ("not confirmed: ..."), unless in review already
//
// Without a claim, or with an unverified one (anyone could have sent it): paid as above;
// declined makes a created invoice failed; anything else is history only (the reconciler
// asks again later), the claim dropped at GiveUp. A paid or unmatched invoice keeps
// every answer in history only.
func applyStatus(inv Invoice, msg Message, now time.Time) (Invoice, []Event) {
	inv.touch(now)
	s := msg.Status
	inv.StatusChecks = max(inv.StatusChecks, s.Check)
	inv.LastStatus, inv.LastStatusAt = s.Summary(), now
	if inv.State == StatePaid || inv.State == StateUnmatched {
		return inv, nil
	}
	claim, waiting := inv.ConfirmClaim, inv.Confirmation
	// A verified success claim is what the answer confirms; an unverified claim (or
	// none) only made the worker ask, and the answer alone decides.
	confirming := claim != nil && claim.Verified && waiting == ConfirmationPending
	raw := s.Raw
	if confirming {
		raw = claim.Raw // the event carries the callback that the status confirmed
	}
	verdict := s.Verdict()
	// ePay's answer names another transaction than the claim's: what it confirms is that
	// transaction, not the claim's callback. A verified callback proves only that its
	// sender knew the invoice's secret_hash, which ePay hands to whatever postLink the
	// payment object names (the shopper's browser holds a P2P transfer's): the invoice is
	// paid with ePay's transaction, its answer, and the claim's transaction is flagged
	// for a human (a second payment, or a callback made with a leaked secret_hash).
	unnamed := ""
	if confirming && verdict == VerdictPaid && s.TransactionID != "" && s.TransactionID != claim.TransactionID {
		confirming, raw, unnamed = false, s.Raw, claim.TransactionID
	}
	p := s.payment(raw)
	if verdict == VerdictPaid {
		inv.clearClaim()
		if problem := mismatch(inv, p); problem != "" {
			inv.noteTransaction(p.TransactionID) // ePay says it took money: counted if another payment pays the invoice
			if inv.State == StateReview {
				return inv, nil
			}
			return inv.toReview("status "+s.Summary()+": "+problem, p, now)
		}
		inv.State = StatePaid
		inv.setPayment(p)
		inv.PaidAt = now
		if confirming {
			// the invoice is paid with the callback ePay confirmed (the event carries it);
			// ePay's answer stays in history
			inv.TransactionID, inv.CardMask = claim.TransactionID, claim.CardMask
			inv.PaidAt = paidAt(claim, now)
		}
		note := ""
		if unnamed != "" {
			inv.noteTransaction(unnamed)
			note = "transaction " + unnamed + " came in a verified callback, and ePay's status names " + s.TransactionID +
				": look " + unnamed + " up in ePay's cabinet before any refund (a second payment, or a callback made with a leaked secret_hash)"
		}
		inv.OtherTransactions = slices.DeleteFunc(inv.OtherTransactions, func(tx string) bool { return tx == inv.TransactionID })
		events := []Event{inv.event(EventPaid, "", p, now)}
		return inv, append(events, inv.doublePayment(p, now, note)...)
	}
	if claim != nil && !claim.Verified && (verdict == VerdictNotFound || verdict == VerdictNotFinal) && !s.GiveUp {
		return inv, nil // asked because of an unverified claim: ask again
	}
	if waiting == "" || !claim.Verified { // an unverified claim, success or failure, is anyone's: the answer alone decides
		inv.clearClaim()
		if verdict == VerdictDeclined && inv.State == StateCreated {
			inv.State = StateFailed
			inv.setPayment(p)
			return inv, []Event{inv.event(EventFailed, "", p, now)}
		}
		return inv, nil
	}
	switch verdict {
	case VerdictNotFound, VerdictNotFinal:
		if !s.GiveUp {
			return inv, nil // the claim waits; the checker asks again
		}
		inv.clearClaim()
		if inv.State == StateReview {
			return inv, nil
		}
		reason := "no final answer from ePay in time: " + s.Summary()
		if s.Unanswered != "" {
			reason += " (" + s.Unanswered + ")"
		}
		return inv.toReview(reason, claimOr(claim, p), now)
	case VerdictDeclined:
		inv.clearClaim()
		if waiting == ConfirmationNotFinal {
			if inv.State != StateCreated {
				return inv, nil
			}
			inv.State = StateFailed
			inv.setPayment(p)
			return inv, []Event{inv.event(EventFailed, "", p, now)}
		}
	default: // reversed, strange
		inv.clearClaim()
	}
	if inv.State == StateReview {
		return inv, nil // already for a human; history keeps the answer
	}
	return inv.toReview("not confirmed: ePay status says "+s.Summary(), claimOr(claim, p), now)
}

func claimOr(claim, p *Payment) *Payment {
	if claim != nil {
		return claim
	}
	return p
}

func (inv Invoice) toReview(reason string, p *Payment, now time.Time) (Invoice, []Event) {
	inv.State = StateReview
	inv.setPayment(p)
	inv.ReviewReason = reason
	return inv, []Event{inv.event(EventReview, reason, p, now)}
}
