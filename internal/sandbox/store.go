package sandbox

import (
	"sync"
	"time"

	"github.com/epayflow/epayflow/internal/epay"
)

// token is what the sandbox remembers about an access token it issued.
type token struct {
	access   string
	scope    string
	service  bool // the broad service scope: may call the status API
	terminal string
	expires  time.Time
	invoice  *invoiceTerms // nil when the token was issued without invoice fields
}

// invoiceTerms are the invoice fields of a token request: what the form checks the
// payment object against and where the callbacks go.
type invoiceTerms struct {
	invoiceID       string
	amount          epay.Amount
	currency        string
	terminal        string
	secretHash      string
	postLink        string
	failurePostLink string
}

// invoice is one invoice and the card transactions made for it, oldest first.
type invoice struct {
	terms invoiceTerms
	txns  []*txn
}

// paid reports whether a transaction of the invoice took the money (or holds it).
func (inv *invoice) paid() bool {
	for _, t := range inv.txns {
		if t.status != statusReject {
			return true
		}
	}
	return false
}

// last is the newest transaction, or nil.
func (inv *invoice) last() *txn {
	if len(inv.txns) == 0 {
		return nil
	}
	return inv.txns[len(inv.txns)-1]
}

// store holds tokens, invoices, transactions and checkout sessions in memory, each
// bounded; one mutex guards all of it.
type store struct {
	mu       sync.Mutex
	tokens   *fifo[string, *token]
	invoices *fifo[string, *invoice]
	txns     map[string]*txn // by transaction id; entries leave with their invoice
	sessions *fifo[string, *session]
}

func newStore(max int) *store {
	return &store{
		tokens:   newFIFO[string, *token](max),
		invoices: newFIFO[string, *invoice](max),
		txns:     make(map[string]*txn),
		sessions: newFIFO[string, *session](max),
	}
}

func (s *store) putToken(t *token) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.tokens.put(t.access, t)
	if t.invoice != nil {
		s.putTermsLocked(*t.invoice)
	}
}

// putTermsLocked records (or updates) an invoice's terms; a newer token request for the
// same invoice wins, as with ePay, where every operation gets a fresh token.
func (s *store) putTermsLocked(terms invoiceTerms) *invoice {
	if inv, ok := s.invoices.get(terms.invoiceID); ok {
		inv.terms = terms
		return inv
	}
	inv := &invoice{terms: terms}
	for _, old := range s.invoices.put(terms.invoiceID, inv) {
		for _, t := range old.txns {
			delete(s.txns, t.id)
		}
	}
	return inv
}

// validToken returns the token if it is known and unexpired at now.
func (s *store) validToken(access string, now time.Time) (*token, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	t, ok := s.tokens.get(access)
	if !ok || !now.Before(t.expires) {
		return nil, false
	}
	return t, true
}

func (s *store) invoicePaid(id string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	inv, ok := s.invoices.get(id)
	return ok && inv.paid()
}

func (s *store) putSession(sess *session) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.sessions.put(sess.id, sess)
}

func (s *store) session(id string) (*session, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.sessions.get(id)
}

// addTxn records a card transaction under its invoice (creating the invoice from terms
// when the token carried none). It fails with errAlreadyPaid when the invoice already
// has a transaction that took the money.
func (s *store) addTxn(terms invoiceTerms, t *txn) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	inv, ok := s.invoices.get(terms.invoiceID)
	if !ok {
		inv = s.putTermsLocked(terms)
	}
	if inv.paid() {
		return errAlreadyPaid
	}
	inv.txns = append(inv.txns, t)
	s.txns[t.id] = t
	return nil
}

// lastTxn returns a copy of the newest transaction of an invoice.
func (s *store) lastTxn(invoiceID string) (txn, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	inv, ok := s.invoices.get(invoiceID)
	if !ok || inv.last() == nil {
		return txn{}, false
	}
	return inv.last().snapshot(), true
}

// statusTxn returns a copy of the newest transaction of an invoice for a status lookup
// by terminal. When the transaction is that terminal's and still has pending checks,
// the lookup uses one up under the lock and inProgress is true: lookups are counted
// exactly, whatever runs at the same time.
func (s *store) statusTxn(invoiceID, terminal string) (t txn, found, inProgress bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	inv, ok := s.invoices.get(invoiceID)
	if !ok || inv.last() == nil {
		return txn{}, false, false
	}
	last := inv.last()
	if last.terminal == terminal && last.pendingChecks > 0 {
		last.pendingChecks--
		inProgress = true
	}
	return last.snapshot(), true, inProgress
}

// updateTxn applies fn to a transaction under the lock; fn's error is returned as is.
func (s *store) updateTxn(id string, fn func(*txn) error) (txn, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	t, ok := s.txns[id]
	if !ok {
		return txn{}, errTxnNotFound
	}
	if err := fn(t); err != nil {
		return t.snapshot(), err
	}
	return t.snapshot(), nil
}
