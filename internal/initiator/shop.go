package initiator

import (
	"log/slog"
	"mime"
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/epayflow/epayflow/internal/epay"
)

// DefaultShopRate is how many payments per minute the shop route creates by default.
const DefaultShopRate = 30

// shopFields are what the shop page sends; anything else (backLink, failureBackLink,
// accountId, name) is refused on its route.
var shopFields = map[string]bool{
	"kind": true, "amount": true, "currency": true, "description": true,
	"email": true, "phone": true, "language": true, "cardSave": true,
}

// shopPayments serves POST /shop/payments, the shop page's way to create a payment
// without an API key. It takes the page's own fields only, a product of the catalogue
// at its price and KZT, and always sends the buyer back to this initiator's return pages
// (with the invoice's token). It answers only same-origin JSON requests (a cross-site
// form or fetch cannot send them without a CORS preflight, which it never allows), and
// creates at most rate payments per minute (bursts of up to rate); more is 429.
type shopPayments struct {
	svc   *Service
	limit *limiter
	m     *Metrics
	log   *slog.Logger
}

func (s *shopPayments) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	allowSlowAnswer(w)
	if mt, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type")); mt != "application/json" {
		writeJSON(w, http.StatusUnsupportedMediaType, errorBody{Error: "send Content-Type: application/json"})
		return
	}
	if site := r.Header.Get("Sec-Fetch-Site"); site != "" && site != "same-origin" {
		writeJSON(w, http.StatusForbidden, errorBody{Error: "the shop route takes requests from the shop page only"})
		return
	}
	req, ok := readPaymentRequest(w, r, shopFields)
	if !ok {
		return
	}
	errs := FieldErrors{}
	switch price, ok := catalogue(req.Description); {
	case !ok:
		errs["description"] = "must be a product of the shop"
	case req.Amount != price:
		// the price is the shop's, not the buyer's: a page edited in the browser must
		// not buy the gift card for 1 tenge
		errs["amount"] = "must be the product's price, " + price.String()
	}
	if req.Currency != "KZT" {
		errs["currency"] = "must be KZT"
	}
	if len(errs) > 0 {
		writeJSON(w, http.StatusBadRequest, errorBody{Error: "invalid request", Fields: errs})
		return
	}
	if ok, wait := s.limit.allow(); !ok {
		w.Header().Set("Retry-After", strconv.Itoa(int(wait.Seconds())+1))
		writeJSON(w, http.StatusTooManyRequests, errorBody{Error: "the demo shop is busy; try again in a moment"})
		return
	}
	req.BackLink, req.FailureBackLink = "", "" // never the caller's: the defaults
	created, err := s.svc.Create(r.Context(), req)
	if err != nil {
		(&payments{svc: s.svc, m: s.m, log: s.log}).fail(w, r, err)
		return
	}
	s.m.created.WithLabelValues(created.Kind).Inc()
	s.log.Info("payment created", "invoiceId", created.InvoiceID, "kind", created.Kind, "route", "shop",
		"amount", req.Amount.String(), "currency", req.Currency)
	writeJSON(w, http.StatusCreated, created)
}

// catalogue is the price of the shop's product named description (ok false: none is).
func catalogue(description string) (price epay.Amount, ok bool) {
	for _, p := range shopProducts {
		if p.Name == description {
			price, err := epay.ParseAmount(p.Amount)
			return price, err == nil
		}
	}
	return 0, false
}

// limiter is a token bucket: capacity burst, refilled at burst per minute.
type limiter struct {
	mu     sync.Mutex
	tokens float64
	burst  float64
	every  time.Duration // time to refill one token
	last   time.Time
	now    func() time.Time
}

func newLimiter(perMinute int, now func() time.Time) *limiter {
	if perMinute <= 0 {
		perMinute = DefaultShopRate
	}
	return &limiter{tokens: float64(perMinute), burst: float64(perMinute), every: time.Minute / time.Duration(perMinute), last: now(), now: now}
}

// allow takes a token, or says how long until there is one.
func (l *limiter) allow() (bool, time.Duration) {
	l.mu.Lock()
	defer l.mu.Unlock()
	now := l.now()
	l.tokens = min(l.burst, l.tokens+float64(now.Sub(l.last))/float64(l.every))
	l.last = now
	if l.tokens >= 1 {
		l.tokens--
		return true, 0
	}
	return false, time.Duration((1 - l.tokens) * float64(l.every))
}
