package sandbox

import (
	"net"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/epayflow/epayflow/internal/epay"
	"github.com/epayflow/epayflow/internal/epaytest"
)

// session is one opened card form: the payment object checked against its token.
type session struct {
	id      string
	mode    string // pay, p2p, oct or widget
	terms   invoiceTerms
	obj     paymentObject
	token   string
	expires time.Time
}

func (s *Sandbox) handlePayformGet(w http.ResponseWriter, _ *http.Request) {
	s.renderError(w, http.StatusBadRequest, "The payment form opens from the merchant's page: call halyk.pay(paymentObject) from payment-api.js.")
}

// handlePayform is where payment-api.js posts the payment object: it is checked again
// against the token it carries, and the card form is shown.
func (s *Sandbox) handlePayform(w http.ResponseWriter, r *http.Request) {
	r.Body = http.MaxBytesReader(w, r.Body, 256<<10)
	if err := r.ParseForm(); err != nil {
		s.renderError(w, http.StatusBadRequest, "The payment form could not be read.")
		return
	}
	sess, err := s.openSession(r.PostForm.Get("payment"), r.PostForm.Get("mode"))
	if err != nil {
		s.log.Info("payment form refused", "error", err)
		s.renderError(w, http.StatusBadRequest, err.Error())
		return
	}
	s.store.putSession(sess)
	s.renderForm(w, http.StatusOK, sess, "")
}

func (s *Sandbox) openSession(raw, mode string) (*session, error) {
	obj, err := parsePaymentObject([]byte(raw))
	if err != nil {
		return nil, err
	}
	tok, ok := s.store.validToken(obj.accessToken, s.cfg.Now())
	if !ok {
		return nil, badObject("the token in auth is unknown or has expired: get a new one for this payment")
	}
	terms, err := matchToken(obj, tok)
	if err != nil {
		return nil, err
	}
	if s.store.invoicePaid(terms.invoiceID) {
		return nil, badObject("invoice %s is already paid", terms.invoiceID)
	}
	switch mode {
	case "pay", "p2p", "oct", "widget":
	default:
		mode = "pay"
	}
	return &session{id: epaytest.NewUUID(), mode: mode, terms: terms, obj: *obj, token: tok.access, expires: tok.expires}, nil
}

// matchToken checks the payment object against what the token was issued for and
// returns the invoice's terms, completed from the object where the token left them open
// (a P2P token carries only terminal and secret_hash).
func matchToken(o *paymentObject, tok *token) (invoiceTerms, error) {
	if tok.invoice == nil {
		return invoiceTerms{}, badObject("the token was not issued for a payment (scope %q)", tok.scope)
	}
	t := *tok.invoice
	switch {
	case o.terminal == "":
		return t, badObject("terminal is missing")
	case o.terminal != tok.terminal:
		return t, badObject("terminal %q is not the terminal the token was issued for", truncate(o.terminal))
	case t.invoiceID != "" && o.invoiceID != t.invoiceID:
		return t, badObject("invoiceId %s is not the invoice the token was issued for (%s)", o.invoiceID, t.invoiceID)
	case t.amount != 0 && o.amount != t.amount:
		return t, badObject("amount %s does not match the token's amount %s", o.amount, t.amount)
	}
	t.invoiceID, t.amount, t.terminal = o.invoiceID, o.amount, tok.terminal
	cur := t.currency
	if o.currency != "" {
		c, err := epay.NormalizeCurrency(o.currency)
		if err != nil {
			return t, badObject("currency: %v", err)
		}
		if cur != "" && c != cur {
			return t, badObject("currency %s does not match the token's currency %s", c, cur)
		}
		cur = c
	}
	if cur == "" {
		return t, badObject("currency is missing")
	}
	t.currency = cur
	return completeLinks(t, o)
}

func completeLinks(t invoiceTerms, o *paymentObject) (invoiceTerms, error) {
	if t.postLink == "" {
		t.postLink = o.postLink
	}
	if t.failurePostLink == "" {
		t.failurePostLink = o.failurePostLink
	}
	if !isHTTPURL(t.postLink) {
		return t, badObject("postLink is missing or not an http(s) URL")
	}
	if t.failurePostLink != "" && !isHTTPURL(t.failurePostLink) {
		return t, badObject("failurePostLink is not an http(s) URL")
	}
	return t, nil
}

// handleCard takes the card form: it decides the payment, sends the callback in the
// background and, once the first attempt is over (or RedirectWait passed), sends the
// browser back to the shop.
func (s *Sandbox) handleCard(w http.ResponseWriter, r *http.Request) {
	r.Body = http.MaxBytesReader(w, r.Body, 64<<10)
	if err := r.ParseForm(); err != nil {
		s.renderError(w, http.StatusBadRequest, "The card form could not be read.")
		return
	}
	sess, ok := s.store.session(r.PostForm.Get("session"))
	if !ok || !s.cfg.Now().Before(sess.expires) {
		s.renderError(w, http.StatusBadRequest, "This payment form has expired: start the payment again from the shop.")
		return
	}
	entry := cardEntry{
		number: r.PostForm.Get("card-number"), expiry: r.PostForm.Get("card-expiry"),
		cvc: r.PostForm.Get("card-cvc"), holder: r.PostForm.Get("card-holder"),
	}
	k, v, err := s.cfg.judge(entry, s.cfg.Now())
	if err != nil {
		s.renderForm(w, http.StatusBadRequest, sess, strings.TrimPrefix(err.Error(), ErrCardForm.Error()+": "))
		return
	}
	t := s.newTxn(sess, k, v, entry.holder, clientIP(r))
	snap := t.snapshot() // once stored, t belongs to the store's lock (operations change it)
	if err := s.store.addTxn(sess.terms, t); err != nil {
		s.renderError(w, http.StatusConflict, "Invoice "+sess.terms.invoiceID+" is already paid.")
		return
	}
	s.metrics.payments.WithLabelValues(outcome(snap)).Inc()
	s.log.Info("card payment", "invoiceId", snap.invoiceID, "transactionId", snap.id, "status", snap.status,
		"reasonCode", snap.callbackCode(), "notFinal", snap.reportedCode != 0, "cardMask", snap.card.Mask)
	first := s.sendCallback(sess.terms, snap)
	select {
	case <-first:
	case <-time.After(s.cfg.RedirectWait):
	case <-r.Context().Done():
		return
	}
	s.returnToShop(w, r, sess, snap)
}

// newTxn makes the transaction of a card form submission. A NOT FINAL verdict makes a
// transaction that took the money (CHARGE, or AUTH with TwoStep) but reports its code
// to the payer and the merchant, and hides behind one "107" status answer.
func (s *Sandbox) newTxn(sess *session, k epaytest.Card, v verdict, holder, ip string) *txn {
	t := &txn{
		id: epaytest.NewUUID(), invoiceID: sess.terms.invoiceID, invoiceIDAlt: sess.obj.invoiceIDAlt, mode: sess.mode,
		terminal: sess.terms.terminal, currency: sess.terms.currency, amount: sess.terms.amount,
		status: statusReject, reasonCode: v.code, card: k, holder: holderName(holder),
		accountID: sess.obj.accountID, description: sess.obj.description, language: sess.obj.language,
		email: sess.obj.email, phone: sess.obj.phone, ip: ip, created: s.cfg.Now(),
	}
	if v.notFinal {
		t.reasonCode, t.reportedCode, t.pendingChecks = 0, v.code, 1
	}
	if t.reasonCode == 0 {
		t.approvalCode, t.reference = epaytest.NewDigits(6), epaytest.NewDigits(12)
		t.status, t.charged = statusCharge, t.amount
		if s.cfg.TwoStep {
			t.status, t.charged = statusAuth, 0
		}
	}
	return t
}

// sendCallback starts delivering the callback of t: success to postLink, failure to
// failurePostLink (postLink when that is empty).
func (s *Sandbox) sendCallback(terms invoiceTerms, t txn) <-chan struct{} {
	rec := &Delivery{InvoiceID: t.invoiceID, TransactionID: t.id, Kind: "success", URL: terms.postLink}
	if t.reportedFailure() {
		rec.Kind = "failure"
		if terms.failurePostLink != "" {
			rec.URL = terms.failurePostLink
		}
	}
	return s.deliver(rec, t.callback().Body(terms.secretHash))
}

// returnToShop redirects to backLink or failureBackLink with the invoiceId; without
// one, the sandbox shows the outcome itself.
func (s *Sandbox) returnToShop(w http.ResponseWriter, r *http.Request, sess *session, t txn) {
	link := sess.obj.backLink
	if t.reportedFailure() && sess.obj.failureBackLink != "" {
		link = sess.obj.failureBackLink
	}
	if !isHTTPURL(link) {
		s.renderResult(w, t)
		return
	}
	http.Redirect(w, r, withInvoiceID(link, t.invoiceID), http.StatusSeeOther)
}

// withInvoiceID appends invoiceId=<id> to link unless the link already names the invoice.
func withInvoiceID(link, id string) string {
	if strings.Contains(link, id) {
		return link
	}
	u, err := url.Parse(link)
	if err != nil {
		return link
	}
	q := u.Query()
	q.Set("invoiceId", id)
	u.RawQuery = q.Encode()
	return u.String()
}

func holderName(s string) string {
	s = strings.ToUpper(strings.Join(strings.Fields(s), " "))
	if s == "" {
		return "CARD HOLDER"
	}
	if len(s) > 64 {
		s = s[:64]
	}
	return s
}

func clientIP(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}

// outcome is the label of the payments metric: approved, declined, or not_final (the
// payer was told a failure, the money was taken).
func outcome(t txn) string {
	switch {
	case !t.approved():
		return "declined"
	case t.reportedCode != 0:
		return "not_final"
	}
	return "approved"
}
