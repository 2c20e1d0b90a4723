package chaos

import (
	"slices"
	"strconv"
	"strings"

	"github.com/epayflow/epayflow/internal/epay"
)

// msgKind is what an inbox message is to the oracle.
type msgKind uint8

const (
	kindCreated msgKind = iota + 1
	kindSuccess
	kindFailure
	kindStatus // an answer of ePay's status API, published by the worker's checker
)

// inboxMsg is one message of EPAY_INBOX as the oracle sees it.
type inboxMsg struct {
	ID        string // the worker's message id: the invoiceId, cb:<invoiceId>:<tx>:<code> or st:<invoiceId>:<check>:...
	InvoiceID string
	Kind      msgKind
	Seq       uint64 // stream sequence of its first copy
	// of a callback (and of a status answer: its transaction)
	TxID       string
	Amount     epay.Amount
	Currency   string
	Terminal   string
	Verified   bool
	ReasonCode int
	// of a status answer
	Check      int
	ResultCode string // "100", "101", "102", ...; "" when ePay gave no answer
	StatusName string // CHARGE, AUTH, REJECT, ...
	GiveUp     bool   // published past WORKER_FINAL_WITHIN
}

// event is a payment event: its id (<invoiceId>-<version>) and type.
type event struct {
	ID   string
	Type string // paid, failed, review
}

// Claims an invoice may wait with (docs/WORKER.md, "Confirmation and reconciliation").
const (
	claimPending  = "pending"   // a success callback waits for the status API
	claimNotFinal = "not_final" // a failure whose outcome is not final waits for it
)

// model is an independent reading of the state machine of docs/DESIGN.md and docs/WORKER.md
// (the states, and the table of what each ePay status answer does), written from the
// documents, not from internal/invoice: the chaos test compares the worker against it,
// and oracle_test.go compares it against invoice.Apply.
type model struct {
	invoiceID string
	// confirm: the worker has an ePay client and WORKER_CONFIRM_PAYMENTS=on, as in the
	// chaos stack. Then every success callback waits for the status API, and so does a
	// failure that is unverified or whose reason code ePay does not call final.
	confirm  bool
	state    string // "" (never seen), unmatched, created, paid, failed, review
	version  int
	amount   epay.Amount
	currency string
	terminal string
	paidTx   string
	other    []string  // other verified payments' transactions: each a double payment
	waiting  string    // "", claimPending or claimNotFinal
	claim    *inboxMsg // the callback that waits
	pending  []inboxMsg
	applied  map[string]bool
	events   []event
}

func newModel(invoiceID string, confirm bool) *model {
	return &model{invoiceID: invoiceID, confirm: confirm, applied: map[string]bool{}}
}

// apply applies one message; a message applied before changes nothing.
func (m *model) apply(msg inboxMsg) {
	if m.applied[msg.ID] {
		return
	}
	if msg.Kind == kindStatus && m.state == "" {
		return // the worker never asks about an invoice it does not know (it would be poison)
	}
	m.applied[msg.ID] = true
	m.version++ // every message applied counts, even one kept only in history
	switch {
	case msg.Kind == kindCreated:
		if m.state != "" && m.state != "unmatched" {
			return
		}
		m.state = "created"
		m.amount, m.currency, m.terminal = msg.Amount, strings.ToUpper(strings.TrimSpace(msg.Currency)), msg.Terminal
		pending := m.pending
		m.pending = nil
		for _, p := range pending { // resolved: the kept callbacks again, in order
			m.version++
			m.pay(p)
		}
	case msg.Kind == kindStatus:
		m.status(msg)
	case m.state == "" || m.state == "unmatched":
		m.state = "unmatched"
		m.pending = append(m.pending, msg)
	default:
		m.pay(msg)
	}
}

// matches: amount, currency and terminal are the invoice's.
func (m *model) matches(msg inboxMsg) bool {
	return msg.Amount == m.amount && strings.EqualFold(strings.TrimSpace(msg.Currency), m.currency) &&
		strings.EqualFold(strings.TrimSpace(msg.Terminal), m.terminal)
}

func (m *model) pay(msg inboxMsg) {
	if !msg.Verified { // docs/WORKER.md: an unverified callback never moves an invoice by itself
		if !m.confirm {
			return // nobody can check it: history only
		}
		if msg.Kind == kindSuccess { // it only makes the worker ask ePay, whatever amount it claims
			if m.state != "paid" && m.claim == nil {
				m.waiting, m.claim = claimPending, &msg
			}
			return
		}
		// an unverified failure is asked about like a not-final one (below)
	}
	if msg.Kind == kindFailure {
		if m.state != "created" {
			return // a late or second failure is history only; paid never becomes failed
		}
		if m.waiting == claimPending && m.claim.Verified {
			return // a verified success waits for ePay's answer, which decides
		}
		final := epay.ReasonFinality(msg.ReasonCode)
		// with a client, a failure whose reason is 0 ("success"), null or missing says
		// nothing of its finality: asked about too (docs/WORKER.md)
		if final == epay.NotFinal || m.confirm && (!msg.Verified || msg.ReasonCode == 0 || final != epay.Final) {
			if m.claim == nil { // not believed: the status API decides
				m.waiting, m.claim = claimNotFinal, &msg
			}
			return
		}
		m.state = "failed" // a claim waiting stays and still decides
		m.emit("failed")
		return
	}
	// a verified success: with confirmation it is a claim for the status API, unless it
	// differs from the invoice, which sends it to review at once as before
	switch {
	case m.state != "paid" && m.confirm && m.matches(msg):
		switch {
		case m.claim == nil || m.waiting == claimNotFinal || !m.claim.Verified:
			m.waiting, m.claim = claimPending, &msg
		case msg.TxID != m.claim.TxID:
			m.noteOther(msg.TxID) // a second payment while the first waits: flagged at paid
		}
	case m.state == "paid":
		if msg.TxID != m.paidTx && !slices.Contains(m.other, msg.TxID) {
			m.noteOther(msg.TxID)
			m.emit("review") // double payment: stays paid
		}
	case m.matches(msg):
		m.state, m.paidTx = "paid", msg.TxID
		m.dropClaim()
		m.other = slices.DeleteFunc(m.other, func(tx string) bool { return tx == m.paidTx })
		m.emit("paid")
		if len(m.other) > 0 { // a payment ePay showed of another amount took money too: a double payment
			m.version++
			m.emit("review")
		}
	case m.state == "review":
		// waits for a human or a matching success
	default: // created or failed
		m.state = "review"
		m.dropClaim()
		m.emit("review")
	}
}

// verdicts of a status answer (docs/WORKER.md).
const (
	vPaid     = "paid"      // 100 with CHARGE or AUTH
	vDeclined = "declined"  // 101, or REJECT/FAILED, with a reason ePay calls final
	vNotFound = "not_found" // 102
	vNotFinal = "not_final" // 107, NEW/3D/FINGERPRINT/VERIFIED, a not-final reason, 103/104/106/109, no answer
	vReversed = "reversed"  // 100 with CANCEL, CANCEL_OLD or REFUND
	vStrange  = "strange"   // 100 without a transaction or with another statusName
)

func verdict(msg inboxMsg) string {
	failure := func() string {
		if epay.ReasonFinality(msg.ReasonCode) == epay.NotFinal {
			return vNotFinal
		}
		return vDeclined
	}
	switch msg.ResultCode {
	case "100":
		switch msg.StatusName {
		case "CHARGE", "AUTH":
			return vPaid
		case "REJECT", "FAILED":
			return failure()
		case "NEW", "3D", "FINGERPRINT", "VERIFIED":
			return vNotFinal
		case "CANCEL", "CANCEL_OLD", "REFUND":
			return vReversed
		}
		return vStrange
	case "101":
		return failure()
	case "102":
		return vNotFound
	}
	return vNotFinal
}

// status applies a status answer, column by column as docs/WORKER.md's table reads.
func (m *model) status(msg inboxMsg) {
	if m.state == "paid" || m.state == "unmatched" {
		return // history only
	}
	// the column: what the invoice waits for
	const (
		colNone = iota
		colVerifiedSuccess
		colUnverifiedSuccess
		colNotFinalFailure
	)
	col := colNone
	switch {
	case m.waiting == claimNotFinal && m.claim.Verified:
		col = colNotFinalFailure
	case m.waiting == claimNotFinal: // an unverified failure: anyone's claim, as an unverified success
		col = colUnverifiedSuccess
	case m.waiting == claimPending && m.claim.Verified:
		col = colVerifiedSuccess
	case m.waiting == claimPending:
		col = colUnverifiedSuccess
	}
	toReview := func() {
		m.dropClaim()
		if m.state != "review" {
			m.state = "review"
			m.emit("review")
		}
	}
	toFailed := func() {
		m.dropClaim()
		if m.state == "created" {
			m.state = "failed"
			m.emit("failed")
		}
	}
	switch verdict(msg) {
	case vPaid:
		if !m.matches(msg) {
			m.noteOther(msg.TxID) // ePay says it took money: a double payment if another pays the invoice
			toReview()
			return
		}
		m.state, m.paidTx = "paid", msg.TxID
		if col == colVerifiedSuccess {
			m.paidTx = m.claim.TxID // paid with the callback ePay confirmed
			if msg.TxID != "" {
				m.noteOther(msg.TxID) // ePay names another transaction: it took money too
			}
		}
		m.dropClaim()
		m.other = slices.DeleteFunc(m.other, func(tx string) bool { return tx == m.paidTx })
		m.emit("paid")
		if len(m.other) > 0 { // the other payments: one review event, a version of its own
			m.version++
			m.emit("review")
		}
	case vDeclined:
		if col == colVerifiedSuccess {
			toReview() // not confirmed
			return
		}
		toFailed()
	case vNotFound, vNotFinal:
		switch {
		case col == colNone || !msg.GiveUp:
			// history only; a claim waits and is asked about again
		case col == colUnverifiedSuccess:
			m.dropClaim() // past the bound an unverified claim is only dropped
		default:
			toReview() // no final answer from ePay in time
		}
	default: // reversed, strange
		switch col {
		case colNone:
		case colUnverifiedSuccess:
			m.dropClaim()
		default:
			toReview() // not confirmed
		}
	}
}

func (m *model) dropClaim() { m.waiting, m.claim = "", nil }

func (m *model) noteOther(tx string) {
	if tx != m.paidTx && !slices.Contains(m.other, tx) {
		m.other = append(m.other, tx)
	}
}

func (m *model) emit(typ string) {
	m.events = append(m.events, event{ID: m.invoiceID + "-" + strconv.Itoa(m.version), Type: typ})
}

// fold runs msgs through a fresh model of a worker with confirmation on (confirm) or
// without an ePay client.
func fold(invoiceID string, confirm bool, msgs []inboxMsg) *model {
	m := newModel(invoiceID, confirm)
	for _, msg := range msgs {
		m.apply(msg)
	}
	return m
}
