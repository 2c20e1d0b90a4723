package chaos

import (
	"net/http"
	"sync"

	"github.com/epayflow/epayflow/internal/epay"
	"github.com/epayflow/epayflow/internal/inbox"
)

// post is the outcome of one callback POST (with all its retries).
type post struct {
	MsgID    string // inbox.CallbackMsgID of the body
	Invoice  string
	Status   int // the last answer; 0 when none came
	Attempts int
	Body     []byte
}

// ledger records every POST the senders made.
type ledger struct {
	mu    sync.Mutex
	posts []post
	first map[string][]byte // per invoice, the first body answered 200
}

func newLedger() *ledger { return &ledger{first: map[string][]byte{}} }

// delivered records a callback the epaytest.Deliverer is done with.
func (l *ledger) delivered(body []byte, status, attempts int) {
	p := post{Body: body, Status: status, Attempts: attempts}
	if cb, err := epay.DecodeCallback(body); err == nil {
		p.MsgID, p.Invoice = inbox.CallbackMsgID(cb.InvoiceID, cb.ID, cb.Code), cb.InvoiceID
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	l.posts = append(l.posts, p)
	if _, ok := l.first[p.Invoice]; !ok && p.Status == http.StatusOK {
		l.first[p.Invoice] = p.Body
	}
}

// firstOK is the first body of invoiceID answered 200, or nil.
func (l *ledger) firstOK(invoiceID string) []byte {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.first[invoiceID]
}

func (l *ledger) all() []post {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]post(nil), l.posts...)
}
