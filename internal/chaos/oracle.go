package chaos

import (
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
)

// inboxMsg is one message of EPAY_INBOX as the oracle sees it.
type inboxMsg struct {
	ID        string // the worker's message id: the invoiceId, or cb:<invoiceId>:<tx>:<code>
	InvoiceID string
	Kind      msgKind
	Seq       uint64 // stream sequence of its first copy
	// of a callback
	TxID     string
	Amount   epay.Amount
	Currency string
	Terminal string
	Verified bool
}

// event is a payment event: its id (<invoiceId>-<version>) and type.
type event struct {
	ID   string
	Type string // paid, failed, review
}

// model is an independent reading of the state machine of DESIGN.md and docs/WORKER.md,
// written from the documents, not from internal/invoice: the chaos test compares the
// worker against it, and oracle_test.go compares it against invoice.Apply.
type model struct {
	invoiceID string
	state     string // "" (never seen), unmatched, created, paid, failed, review
	version   int
	amount    epay.Amount
	currency  string
	terminal  string
	paidTx    string
	pending   []inboxMsg
	applied   map[string]bool
	events    []event
}

func newModel(invoiceID string) *model {
	return &model{invoiceID: invoiceID, applied: map[string]bool{}}
}

// apply applies one message; a message applied before changes nothing.
func (m *model) apply(msg inboxMsg) {
	if m.applied[msg.ID] {
		return
	}
	m.applied[msg.ID] = true
	m.version++ // every message applied counts, even one kept only in history
	if msg.Kind == kindCreated {
		if m.state != "" && m.state != "unmatched" {
			return
		}
		m.state = "created"
		m.amount, m.currency, m.terminal = msg.Amount, strings.ToUpper(msg.Currency), msg.Terminal
		pending := m.pending
		m.pending = nil
		for _, p := range pending { // resolved: the kept callbacks again, in order
			m.version++
			m.pay(p)
		}
		return
	}
	if m.state == "" || m.state == "unmatched" {
		m.state = "unmatched"
		m.pending = append(m.pending, msg)
		return
	}
	m.pay(msg)
}

func (m *model) pay(msg inboxMsg) {
	if msg.Kind == kindFailure {
		if m.state == "created" {
			m.state = "failed"
			m.emit("failed")
		}
		return // a late or second failure is history only; paid never becomes failed
	}
	matches := msg.Verified && msg.Amount == m.amount && strings.EqualFold(msg.Currency, m.currency) &&
		strings.EqualFold(strings.TrimSpace(msg.Terminal), m.terminal)
	switch {
	case m.state == "paid":
		if msg.Verified && msg.TxID != m.paidTx {
			m.emit("review") // double payment: stays paid
		}
	case matches:
		m.state, m.paidTx = "paid", msg.TxID
		m.emit("paid")
	case m.state == "review":
		// waits for a human or a matching success
	default: // created or failed
		m.state = "review"
		m.emit("review")
	}
}

func (m *model) emit(typ string) {
	m.events = append(m.events, event{ID: m.invoiceID + "-" + strconv.Itoa(m.version), Type: typ})
}

// fold runs msgs through a fresh model.
func fold(invoiceID string, msgs []inboxMsg) *model {
	m := newModel(invoiceID)
	for _, msg := range msgs {
		m.apply(msg)
	}
	return m
}
