package worker

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/epayflow/epayflow/internal/bolt"
	"github.com/epayflow/epayflow/internal/inbox"

	"github.com/epayflow/epayflow/internal/epay"
	"github.com/epayflow/epayflow/internal/epayapi"
	"github.com/epayflow/epayflow/internal/events"
	"github.com/epayflow/epayflow/internal/invoice"
	"github.com/epayflow/epayflow/internal/sandbox"
)

// Test cards of the sandbox.
const (
	cardPays   = "4405639704015096" // 01/27, 321
	cardLocked = "4003032704547597" // declines 465: the transaction is REJECT
)

// deadPostLink is where the sandbox sends its callbacks in these tests: nowhere, so the
// test decides which callbacks the worker sees (or that none comes: a lost callback).
const deadPostLink = "http://127.0.0.1:1/epay/postlink"

// startSandbox serves an in-process ePay sandbox for the status API.
func startSandbox(t *testing.T) string {
	t.Helper()
	return startSandboxOf(t, sandbox.Config{})
}

// startSandboxOf is startSandbox with cfg (its callback and redirect settings are the tests').
func startSandboxOf(t *testing.T, cfg sandbox.Config) string {
	t.Helper()
	cfg.CallbackAttempts, cfg.CallbackTimeout, cfg.RedirectWait = 1, time.Second, time.Second
	sb, err := sandbox.New(cfg, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(sb.Close)
	srv := httptest.NewServer(sb.Handler())
	t.Cleanup(srv.Close)
	return srv.URL
}

// sandboxTx is the transaction id of invoiceID's payment on the sandbox at base: the
// id ePay's callback for it carries, and its status answers name.
func sandboxTx(t *testing.T, base, invoiceID string) string {
	t.Helper()
	return sandboxTxOn(t, base, sandbox.TestTerminal, invoiceID)
}

// sandboxTxOn is sandboxTx for a payment on terminal.
func sandboxTxOn(t *testing.T, base, terminal, invoiceID string) string {
	t.Helper()
	client, err := epayapi.New(epayConfig(t, base), nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	st, err := client.PaymentStatusOn(context.Background(), terminal, invoiceID)
	if st == nil || st.Transaction == nil || st.Transaction.ID == "" {
		t.Fatalf("the sandbox's status of %s: %+v %v", invoiceID, st, err)
	}
	return st.Transaction.ID
}

var sessionRe = regexp.MustCompile(`name="session" value="([^"]+)"`)

// sandboxPay pays invoiceID on the sandbox with card, as a customer would: token, form,
// card. The callbacks go to deadPostLink.
func sandboxPay(t *testing.T, base, invoiceID, amount, card string) {
	t.Helper()
	sandboxPayKind(t, base, invoiceID, amount, card, invoice.KindPayment)
}

// sandboxPayKind is sandboxPay for a card payment (invoice.KindPayment: scope payment,
// halyk.pay) or a P2P transfer (invoice.KindP2P: scope transfer, halyk.p2p).
func sandboxPayKind(t *testing.T, base, invoiceID, amount, card, kind string) {
	t.Helper()
	sandboxPayOn(t, base, invoiceID, amount, card, kind, sandbox.TestTerminal)
}

// sandboxPayOn is sandboxPayKind on terminal.
func sandboxPayOn(t *testing.T, base, invoiceID, amount, card, kind, terminal string) {
	t.Helper()
	scope, mode := "payment", "pay"
	if kind == invoice.KindP2P {
		scope, mode = "transfer", "p2p"
	}
	keys, _ := epay.ParseKeyring("A:worker-test-signing-key-01")
	resp, err := http.PostForm(base+"/oauth2/token", url.Values{
		"grant_type": {"client_credentials"}, "scope": {scope}, "client_id": {sandbox.TestClientID},
		"client_secret": {sandbox.TestClientSecret}, "terminal": {terminal}, "invoiceID": {invoiceID},
		"secret_hash": {keys.Sign(terminal, invoiceID)}, "amount": {amount}, "currency": {"KZT"},
		"postLink": {deadPostLink}, "failurePostLink": {deadPostLink},
	})
	if err != nil {
		t.Fatal(err)
	}
	var auth map[string]any
	json.NewDecoder(resp.Body).Decode(&auth)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("sandbox token: %d %v", resp.StatusCode, auth)
	}
	amt, _ := epay.ParseAmount(amount)
	obj, _ := json.Marshal(map[string]any{"invoiceId": invoiceID, "backLink": "http://shop.test/ok", "failureBackLink": "http://shop.test/fail",
		"language": "RU", "description": "test", "terminal": terminal, "amount": json.Number(amt.String()), "currency": "KZT", "auth": auth})
	noRedirect := &http.Client{Timeout: 10 * time.Second, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err = noRedirect.PostForm(base+"/payform", url.Values{"payment": {string(obj)}, "mode": {mode}})
	if err != nil {
		t.Fatal(err)
	}
	page, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	m := sessionRe.FindStringSubmatch(string(page))
	if m == nil {
		t.Fatalf("sandbox payform: %d %s", resp.StatusCode, page)
	}
	resp, err = noRedirect.PostForm(base+"/payform/card", url.Values{"session": {m[1]}, "card-number": {card},
		"card-expiry": {"01/27"}, "card-cvc": {"321"}, "card-holder": {"Test Holder"}})
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("sandbox card: %d", resp.StatusCode)
	}
}

// withSandbox is the worker's config with an ePay client on the sandbox.
func (e *env) withSandbox(sandboxURL string, edit func(*Config)) Config {
	cfg := e.config()
	ec := epayConfig(e.t, sandboxURL)
	cfg.EPay, cfg.CheckEvery = &ec, 100*time.Millisecond
	if edit != nil {
		edit(&cfg)
	}
	return cfg
}

// epayConfig is an ePay client's configuration for a server at url (the sandbox, or a
// test's own answers), its token endpoint at url/oauth2/token.
func epayConfig(t testing.TB, url string) epayapi.Config {
	t.Helper()
	var f epayapi.Flags
	f.Env, f.APIURL, f.TokenURL, f.Timeout = epay.EnvSandbox, url, url+"/oauth2/token", 5*time.Second
	ec, err := f.Config()
	if err != nil {
		t.Fatal(err)
	}
	return ec
}

// successCallback is a success callback body for an invoice and amount.
func successCallback(invoiceID, tx string, amount epay.Amount) []byte {
	return []byte(`{"id":"` + tx + `","invoiceId":"` + invoiceID + `","amount":` + amount.String() + `,"currency":"KZT","code":"ok",` +
		`"terminal":"` + sampleTerminal + `","cardMask":"440563...5096","reason":"success","reasonCode":0,"dateTime":"2026-01-01T10:00:00.000000000+05:00"}`)
}

func eventTypes(e *env, invoiceID string) []string {
	var out []string
	for _, ce := range e.events() {
		if ce.Subject == invoiceID {
			out = append(out, strings.TrimPrefix(ce.Type, events.TypePrefix))
		}
	}
	return out
}

func TestConfirmationMakesPaidOnlyWhatTheStatusAPIConfirms(t *testing.T) {
	e := newEnv(t)
	sb := startSandbox(t)
	w := e.start(e.withSandbox(sb, func(c *Config) { c.ConfirmPayments = true }))

	// paid on ePay, amounts agree: paid, with the transaction of the callback ePay confirmed
	sandboxPay(t, sb, "300000001", "100", cardPays)
	// declined on ePay (REJECT) though the callback says success: review
	sandboxPay(t, sb, "300000002", "100", cardLocked)
	// paid 100 on ePay, but the invoice (and the callback) say 200: review
	sandboxPay(t, sb, "300000003", "100", cardPays)
	for id, amount := range map[string]epay.Amount{"300000001": 10000, "300000002": 10000, "300000003": 20000} {
		e.publishCreated(createdFor(id, amount))
		e.publish(callbackMsg(t, successCallback(id, sandboxTx(t, sb, id), amount), true, ""))
	}
	paid := waitState(t, w.url, "300000001", invoice.StatePaid)
	if paid.TransactionID != sandboxTx(t, sb, "300000001") || paid.Confirmation != "" || paid.StatusChecks != 1 {
		t.Errorf("paid invoice: transaction %q confirmation %q checks %d, want the confirmed callback's and no claim",
			paid.TransactionID, paid.Confirmation, paid.StatusChecks)
	}
	rejected := waitState(t, w.url, "300000002", invoice.StateReview)
	if !strings.Contains(rejected.ReviewReason, "not confirmed: ePay status says 101 REJECT") {
		t.Errorf("rejected: review reason %q", rejected.ReviewReason)
	}
	other := waitState(t, w.url, "300000003", invoice.StateReview)
	if !strings.Contains(other.ReviewReason, "amount 100 != invoice 200") {
		t.Errorf("other amount: review reason %q", other.ReviewReason)
	}
	waitFor(t, 10*time.Second, "three events", func() bool { return e.eventCount() == 3 })
	for id, want := range map[string]string{"300000001": "paid", "300000002": "review", "300000003": "review"} {
		if got := eventTypes(e, id); len(got) != 1 || got[0] != want {
			t.Errorf("%s: events %v, want [%s]", id, got, want)
		}
	}
	if got := metricValue(t, w.url, `epayflow_worker_confirmations_total{result="paid"}`); got != 1 {
		t.Errorf(`confirmations_total{result="paid"} = %v, want 1`, got)
	}
	if got := metricValue(t, w.url, `epayflow_worker_confirmations_total{result="review"}`); got != 2 {
		t.Errorf(`confirmations_total{result="review"} = %v, want 2`, got)
	}
	if got := metricValue(t, w.url, `epayflow_epay_status_request_duration_seconds_count`); got < 3 {
		t.Errorf("status request duration count = %v, want the requests made", got)
	}
}

func TestUnverifiedCallbackIsPaidOnlyWhenTheStatusAPIAgrees(t *testing.T) {
	e := newEnv(t)
	sb := startSandbox(t)
	// confirmation off: only unverified callbacks are confirmed
	w := e.start(e.withSandbox(sb, func(c *Config) { c.FinalWithin = 2 * time.Second }))

	sandboxPay(t, sb, "300000011", "100", cardPays)
	e.publishCreated(createdFor("300000011", 10000))
	e.publishCreated(createdFor("300000012", 10000)) // never paid on ePay: a forgery
	e.publish(callbackMsg(t, successCallback("300000011", "tx-a", 10000), false, ""))
	e.publish(callbackMsg(t, successCallback("300000012", "tx-b", 10000), false, ""))
	waitState(t, w.url, "300000011", invoice.StatePaid)
	// ePay does not know the forged one: the worker asks until WORKER_FINAL_WITHIN, then
	// drops the claim. The invoice stays created, open for the real payment: an
	// unverified callback never moves it by itself.
	waitFor(t, 10*time.Second, "the forged claim asked about", func() bool {
		_, body := get(t, w.url, "300000012")
		return body.LastStatus == "102" && body.Confirmation == invoice.ConfirmationPending
	})
	waitFor(t, 15*time.Second, "the forged claim dropped after the bound", func() bool {
		_, body := get(t, w.url, "300000012")
		return body.Confirmation == "" && body.StatusChecks >= 2
	})
	if _, forged := get(t, w.url, "300000012"); forged.State != invoice.StateCreated || forged.ReviewReason != "" {
		t.Errorf("forged: state %s review reason %q, want created and none", forged.State, forged.ReviewReason)
	}
	if got := eventTypes(e, "300000012"); len(got) != 0 {
		t.Errorf("forged: events %v, want none", got)
	}
	// a verified callback still pays at once with confirmation off
	e.publishCreated(createdFor("300000013", 10000))
	e.publish(callbackMsg(t, successCallback("300000013", "tx-c", 10000), true, ""))
	waitState(t, w.url, "300000013", invoice.StatePaid)
}

func TestForgedUnverifiedCallbackFirstDoesNotHideTheRealOne(t *testing.T) {
	e := newEnv(t)
	w := e.start(e.config()) // no ePay client: an unverified success is history only
	e.publishCreated(createdFor("300000021", 10000))
	body := successCallback("300000021", "tx-real", 10000)
	forged := callbackMsg(t, body, false, "")
	forged.Header.Set("Nats-Msg-Id", forged.Header.Get("Nats-Msg-Id")+":unverified") // as the ingest names it
	e.publish(forged)
	waitFor(t, 10*time.Second, "the forgery in history", func() bool {
		_, got := get(t, w.url, "300000021")
		return len(got.History) == 2
	})
	if _, got := get(t, w.url, "300000021"); got.State != invoice.StateCreated {
		t.Fatalf("after the forgery: %s, want created", got.State)
	}
	e.publish(callbackMsg(t, body, true, "")) // the real one, same transaction and code
	got := waitState(t, w.url, "300000021", invoice.StatePaid)
	if len(got.History) != 3 {
		t.Errorf("history has %d entries, want invoice.created, the forgery and the real callback", len(got.History))
	}
}

func TestReconcilerResolvesInvoicesWhoseCallbackWasLost(t *testing.T) {
	e := newEnv(t)
	sb := startSandbox(t)
	sandboxPay(t, sb, "300000031", "100", cardPays)   // paid, callback lost
	sandboxPay(t, sb, "300000032", "100", cardLocked) // declined, callback lost
	old := time.Now().UTC().Add(-time.Hour)
	for _, id := range []string{"300000031", "300000032", "300000033", "300000034"} {
		c := createdFor(id, 10000)
		c.CreatedAt = old
		if id == "300000034" {
			c.CreatedAt = time.Now().UTC() // too young to ask about
		}
		e.publishCreated(c)
	}
	w := e.start(e.withSandbox(sb, func(c *Config) { c.ReconcileAfter = 30 * time.Minute }))
	waitState(t, w.url, "300000031", invoice.StatePaid)
	waitState(t, w.url, "300000032", invoice.StateFailed)
	waitFor(t, 10*time.Second, "the unknown invoice asked about", func() bool {
		_, body := get(t, w.url, "300000033")
		return body.StatusChecks == 1
	})
	_, unknown := get(t, w.url, "300000033")
	if unknown.State != invoice.StateCreated || unknown.LastStatus != "102" {
		t.Errorf("unknown to ePay: state %s last status %q, want created and 102", unknown.State, unknown.LastStatus)
	}
	if _, young := get(t, w.url, "300000034"); young.StatusChecks != 0 {
		t.Errorf("a young invoice was asked about: %+v", young)
	}
	for result, want := range map[string]float64{"paid": 1, "failed": 1, "not_found": 1} {
		if got := metricValue(t, w.url, `epayflow_worker_reconciled_total{result="`+result+`"}`); got != want {
			t.Errorf(`reconciled_total{result=%q} = %v, want %v`, result, got, want)
		}
	}
}

// A worker's file keeps the invoices of shards that moved to another worker; its checker
// leaves them to their new owner: it neither asks ePay about them nor counts their claims.
func TestTheCheckerLeavesShardsThatMovedAway(t *testing.T) {
	e := newEnv(t)
	sb := startSandbox(t)
	cfg := e.withSandbox(sb, func(c *Config) { c.ConfirmPayments = true })
	store, err := bolt.Open(cfg.DB, bolt.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	const id = "300000009"
	cb, err := epay.DecodeCallback(successCallback(id, "tx-"+id, 10000))
	if err != nil {
		t.Fatal(err)
	}
	claim := invoice.CallbackMessage("cb-1", cb, true, time.Now())
	claim.Payment.Confirm = true
	if _, _, err := store.ApplyAll([]invoice.Message{invoice.CreatedMessage("c-1", createdFor(id, 10000), time.Now()), claim}, time.Now()); err != nil {
		t.Fatal(err)
	}
	reg := prometheus.NewRegistry()
	client, err := epayapi.New(*cfg.EPay, epayapi.NewMetrics(reg), e.log)
	if err != nil {
		t.Fatal(err)
	}
	signer, err := inbox.NewStatusSigner([]byte("a-status-key-of-at-least-32-bytes-long"))
	if err != nil {
		t.Fatal(err)
	}
	msgs, _ := inbox.NewBuilder(cfg.Shards)
	m := NewMetrics(reg)
	c := newChecker(store, e.js, client, signer, msgs, cfg, m, e.log)
	asked := func() float64 {
		n := 0.0
		mfs, _ := reg.Gather()
		for _, mf := range mfs {
			if mf.GetName() == "epayflow_epay_status_request_duration_seconds" {
				for _, s := range mf.GetMetric() {
					n += float64(s.GetHistogram().GetSampleCount())
				}
			}
		}
		return n
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()

	c.owns = func(string) bool { return false }
	c.scan(ctx)
	if n, w := asked(), testutil.ToFloat64(m.AwaitingFinal.WithLabelValues(invoice.ConfirmationPending)); n != 0 || w != 0 {
		t.Fatalf("checker of a shard that moved away: asked ePay %v times, counts %v claims; want neither", n, w)
	}
	c.owns = func(string) bool { return true }
	c.scan(ctx)
	if n, w := asked(), testutil.ToFloat64(m.AwaitingFinal.WithLabelValues(invoice.ConfirmationPending)); n < 1 || w != 1 {
		t.Fatalf("checker of its own shard: asked ePay %v times, counts %v claims; want it asked and the claim counted", n, w)
	}
}

// Anyone who may publish to the inbox (a taken-over ingest, initiator or dlq login) can
// work out a status answer's content id from the callback: the invoice, the check number,
// ePay's answer and the transaction. JetStream drops a message whose Nats-Msg-Id it has
// seen on any subject of the stream, before the worker checks a signature: if the
// workers' answers went under that id, junk published first under it would have them
// dropped, and the buyer's payment never confirmed. Their Nats-Msg-Id carries a token of
// the status key, which the publisher cannot make.
func TestAStatusAnswerIsNotDroppedByItsIDTakenFirst(t *testing.T) {
	e := newEnv(t)
	sb := startSandbox(t)
	w := e.start(e.withSandbox(sb, func(c *Config) { c.FinalWithin = 3 * time.Second }))
	const id = "300000041"
	sandboxPay(t, sb, id, "100", cardPays)
	tx := sandboxTx(t, sb, id) // as ePay's callback for the payment shows it
	e.publishCreated(createdFor(id, 10000))
	postlink := inbox.Subject(inbox.Shard(id, inbox.DefaultShards), inbox.KindPostlink)
	for check := 1; check <= 20; check++ { // every check the worker could make within the test
		junk := &nats.Msg{Subject: postlink, Data: []byte("{}"), Header: nats.Header{}}
		junk.Header.Set(nats.MsgIdHdr, inbox.StatusMsgID(id, check, "100", "CHARGE", tx))
		e.publish(junk)
	}
	e.publish(callbackMsg(t, successCallback(id, tx, 10000), false, "")) // unverified: paid once ePay says so
	waitState(t, w.url, id, invoice.StatePaid)
	if got := eventTypes(e, id); len(got) != 1 || got[0] != "paid" {
		t.Errorf("events %v, want one paid", got)
	}
}
