package sandbox

import (
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/epayflow/epayflow/internal/epaytest"
)

// Delivery is the record of one callback the sandbox sends, as GET /sandbox/callbacks
// shows it.
type Delivery struct {
	InvoiceID     string    `json:"invoiceId"`
	TransactionID string    `json:"transactionId"`
	Kind          string    `json:"kind"` // success or failure
	URL           string    `json:"url"`
	Attempts      int       `json:"attempts"`
	LastStatus    int       `json:"lastStatus"` // HTTP status of the last attempt; 0 when it got none
	LastError     string    `json:"lastError,omitempty"`
	Delivered     bool      `json:"delivered"` // a 200 came back
	Done          bool      `json:"done"`      // delivered, or given up
	CreatedAt     time.Time `json:"createdAt"`
	History       []Attempt `json:"history"`
}

// Attempt is one POST of a callback.
type Attempt struct {
	At     time.Time `json:"at"`
	Status int       `json:"status"`
	Error  string    `json:"error,omitempty"`
}

// deliveries records callbacks (bounded) and limits how many are in flight.
type deliveries struct {
	mu     sync.Mutex
	seq    uint64
	recs   *fifo[uint64, *Delivery]
	sem    chan struct{}
	closed bool
}

func newDeliveries(max, inFlight int) *deliveries {
	return &deliveries{recs: newFIFO[uint64, *Delivery](max), sem: make(chan struct{}, inFlight)}
}

func (d *deliveries) add(rec *Delivery) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.seq++
	d.recs.put(d.seq, rec)
}

func (d *deliveries) update(rec *Delivery, fn func(*Delivery)) {
	d.mu.Lock()
	defer d.mu.Unlock()
	fn(rec)
}

// list returns copies of the records, oldest first; only those of invoiceID when it is
// not empty.
func (d *deliveries) list(invoiceID string) []Delivery {
	d.mu.Lock()
	defer d.mu.Unlock()
	out := []Delivery{}
	for _, r := range d.recs.values() {
		if invoiceID == "" || r.InvoiceID == invoiceID {
			c := *r
			c.History = append([]Attempt(nil), r.History...)
			out = append(out, c)
		}
	}
	return out
}

// deliver sends body to url in the background, retrying until a 200 or the attempts run
// out. The returned channel is closed once the first attempt is over (or none will be
// made).
func (s *Sandbox) deliver(rec *Delivery, body []byte) <-chan struct{} {
	first := make(chan struct{})
	d := s.deliveries
	rec.CreatedAt = s.cfg.Now()
	d.add(rec)
	d.mu.Lock()
	admitted := !d.closed
	if admitted {
		select {
		case d.sem <- struct{}{}:
			s.wg.Add(1)
		default:
			admitted = false
		}
	}
	d.mu.Unlock()
	if !admitted {
		d.update(rec, func(r *Delivery) {
			r.Done, r.LastError = true, "not sent: sandbox closing or too many callbacks in flight"
		})
		s.log.Warn("callback dropped", "invoiceId", rec.InvoiceID, "url", rec.URL)
		close(first)
		return first
	}
	go func() {
		defer s.wg.Done()
		defer func() { <-d.sem }()
		s.retry(rec, body, first)
	}()
	return first
}

func (s *Sandbox) retry(rec *Delivery, body []byte, first chan struct{}) {
	var once sync.Once
	firstDone := func() { once.Do(func() { close(first) }) }
	defer firstDone()
	wait := s.cfg.CallbackBackoff
	for attempt := 1; ; attempt++ {
		status, err := epaytest.Post(s.ctx, s.client, rec.URL, body)
		a := Attempt{At: s.cfg.Now(), Status: status}
		if err != nil {
			a.Error = err.Error()
		}
		ok := err == nil && status == http.StatusOK
		last := ok || attempt >= s.cfg.CallbackAttempts || s.ctx.Err() != nil
		s.deliveries.update(rec, func(r *Delivery) {
			r.Attempts, r.LastStatus, r.LastError = attempt, status, a.Error
			r.History = append(r.History, a)
			r.Delivered, r.Done = ok, last
		})
		s.metrics.attempts.WithLabelValues(attemptResult(status, err)).Inc()
		s.log.Info("callback attempt", "invoiceId", rec.InvoiceID, "kind", rec.Kind, "url", rec.URL,
			"attempt", attempt, "status", status, "error", a.Error)
		firstDone()
		if last {
			return
		}
		select {
		case <-s.ctx.Done():
			s.deliveries.update(rec, func(r *Delivery) { r.Done = true })
			return
		case <-time.After(wait):
		}
		wait = min(2*wait, s.cfg.CallbackMaxBackoff)
	}
}

func attemptResult(status int, err error) string {
	switch {
	case err != nil:
		return "error"
	case status == http.StatusOK:
		return "ok"
	}
	return strconv.Itoa(status)
}

func (s *Sandbox) handleCallbacks(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, s.deliveries.list(r.PathValue("invoiceId")))
}

// Deliveries returns the callback records, oldest first; only those of invoiceID when
// it is not empty. It is what GET /sandbox/callbacks serves.
func (s *Sandbox) Deliveries(invoiceID string) []Delivery { return s.deliveries.list(invoiceID) }
