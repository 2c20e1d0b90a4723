package sandbox

import (
	"errors"
	"fmt"
	"time"

	"github.com/epayflow/epayflow/internal/epay"
	"github.com/epayflow/epayflow/internal/epaytest"
)

// Transaction statuses, as check-status names them.
const (
	statusAuth   = "AUTH"
	statusCharge = "CHARGE"
	statusCancel = "CANCEL"
	statusRefund = "REFUND"
	statusReject = "REJECT"
)

// MinRefundKZT is the smallest refund ePay takes in tenge.
const MinRefundKZT epay.Amount = 10_00

// Errors of the operations API and of the card form; opErrors maps each to its answer.
var (
	errTxnNotFound     = errors.New("transaction not found")
	errWrongStatus     = errors.New("operation not allowed in this status")
	errBadAmount       = errors.New("invalid amount")
	errChargeTooLarge  = errors.New("charge above the authorised amount")
	errRefundTooSmall  = errors.New("refund below the minimum")
	errRefundTooLarge  = errors.New("refund above what is left")
	errDuplicateRefund = errors.New("refund with this externalID already made")
	errAlreadyPaid     = errors.New("invoice already paid")
)

// txn is one card transaction.
type txn struct {
	id, invoiceID, invoiceIDAlt string
	mode                        string // pay, p2p or oct
	terminal, currency          string
	amount                      epay.Amount // authorised
	charged, refunded           epay.Amount
	status                      string
	reasonCode                  int
	card                        epaytest.Card
	holder                      string
	approvalCode, reference     string
	accountID, description      string
	language, email, phone      string
	ip                          string
	created                     time.Time
	refundIDs                   map[string]bool

	// reportedCode is the reason code the card form and the callback told when it is
	// not the outcome: reasonNotFinal (454) for a payment whose money was taken anyway.
	// 0 otherwise.
	reportedCode int
	// pendingChecks is how many status lookups still answer "107" (in progress) before
	// the status API shows the transaction; each lookup of its terminal counts one.
	pendingChecks int
}

// snapshot is a copy safe to read outside the store's lock.
func (t *txn) snapshot() txn {
	c := *t
	c.refundIDs = nil
	return c
}

func (t *txn) approved() bool { return t.status != statusReject }

// reportedFailure reports whether the card form and the callback told a failure: a
// REJECT, or ePay's NOT FINAL outcome, whose money is taken all the same.
func (t *txn) reportedFailure() bool { return !t.approved() || t.reportedCode != 0 }

// callbackCode is the reason code the callback and the result page carry.
func (t *txn) callbackCode() int {
	if t.reportedCode != 0 {
		return t.reportedCode
	}
	return t.reasonCode
}

// balance is what the transaction holds or took now: the authorised sum while AUTH,
// what was charged less the refunds once charged, nothing when rejected or cancelled.
func (t *txn) balance() epay.Amount {
	switch t.status {
	case statusAuth:
		return t.amount
	case statusCharge, statusRefund:
		return t.charged - t.refunded
	}
	return 0
}

// charge takes an AUTH transaction to CHARGE for amount (nil: the whole authorised sum).
func (t *txn) charge(amount *epay.Amount) error {
	if t.status != statusAuth {
		return fmt.Errorf("%w: charge needs AUTH, transaction is %s", errWrongStatus, t.status)
	}
	amt := t.amount
	if amount != nil {
		amt = *amount
	}
	if amt <= 0 {
		return fmt.Errorf("%w: charge of %s", errBadAmount, amt)
	}
	if amt > t.amount {
		return fmt.Errorf("%w: %s > %s", errChargeTooLarge, amt, t.amount)
	}
	t.charged, t.status = amt, statusCharge
	return nil
}

// cancel releases an AUTH transaction.
func (t *txn) cancel() error {
	if t.status != statusAuth {
		return fmt.Errorf("%w: cancel needs AUTH, transaction is %s", errWrongStatus, t.status)
	}
	t.status = statusCancel
	return nil
}

// refund returns amount (nil: all that is left) of a CHARGE transaction. A partial
// refund leaves it CHARGE; refunding the rest makes it REFUND.
func (t *txn) refund(amount *epay.Amount, externalID string) error {
	if t.status != statusCharge {
		return fmt.Errorf("%w: refund needs CHARGE, transaction is %s", errWrongStatus, t.status)
	}
	left := t.charged - t.refunded
	amt := left
	if amount != nil {
		amt = *amount
	}
	switch {
	case amt <= 0:
		return fmt.Errorf("%w: refund of %s", errBadAmount, amt)
	case t.currency == "KZT" && amt < MinRefundKZT:
		return fmt.Errorf("%w: %s KZT, at least %s", errRefundTooSmall, amt, MinRefundKZT)
	case amt > left:
		return fmt.Errorf("%w: %s > %s", errRefundTooLarge, amt, left)
	case externalID != "" && t.refundIDs[externalID]:
		return fmt.Errorf("%w: %q", errDuplicateRefund, externalID)
	}
	if externalID != "" {
		if t.refundIDs == nil {
			t.refundIDs = make(map[string]bool)
		}
		t.refundIDs[externalID] = true
	}
	t.refunded += amt
	if t.refunded == t.charged {
		t.status = statusRefund
	}
	return nil
}
