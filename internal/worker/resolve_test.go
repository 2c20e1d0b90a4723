package worker

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/epayflow/epayflow/internal/contracttest"
	"github.com/epayflow/epayflow/internal/events"
	"github.com/epayflow/epayflow/internal/inbox"
	"github.com/epayflow/epayflow/internal/invoice"
	"github.com/epayflow/epayflow/internal/natsbus"
)

// The tests' operator key, and the workers' status key (shared, as in production).
const (
	testOperatorKey = "worker-tests-operator-key"
	testStatusKey   = "worker-tests-status-key-0123"
)

// operatorConfig is config with an operator among the readers and a known status key.
func (e *env) operatorConfig() Config {
	cfg := e.config()
	cfg.ReadKeys, _ = ParseReadKeys("tests:pii:" + testReadKey + ",support:read:" + testSupportKey + ",ops:operator:" + testOperatorKey)
	cfg.StatusKey = testStatusKey
	return cfg
}

// call sends one request to the worker, checks the exchange against api/openapi/worker.yaml
// and returns the status and body.
func call(t *testing.T, doc *contracttest.Doc, method, url, key, body string) (int, []byte) {
	t.Helper()
	req, err := http.NewRequest(method, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	if key != "" {
		req.Header.Set("Authorization", "Bearer "+key)
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, got, _ := doc.Call(t, http.DefaultClient, req, []byte(body))
	return resp.StatusCode, got
}

func resolveBody(decision string) string {
	return `{"decision":"` + decision + `","by":"alice@shop.kz","reason":"the bank confirmed the transfer"}`
}

// eventsOf are the events of one invoice on PAYMENT_EVENTS.
func (e *env) eventsOf(id string) []events.CloudEvent {
	e.t.Helper()
	var out []events.CloudEvent
	for _, ev := range e.events() {
		if ev.Subject == id {
			out = append(out, ev)
		}
	}
	return out
}

// An operator resolves what needs a human, through the inbox: only with an operator key;
// the decision is applied once, kept in history and published once as the decision's
// own event with the resolution; asking again changes nothing, another decision is 409.
func TestOperatorsResolveReviewAndUnmatchedInvoices(t *testing.T) {
	e := newEnv(t)
	w := e.start(e.operatorConfig())
	doc := contracttest.OpenAPI(t, "worker")
	const inReview, unmatched, created = "191111111", "191111112", "191111113"
	e.publishCreated(createdFor(inReview, 100)) // the sample pays 100.00: a mismatch
	e.publish(callbackMsg(t, sample(t, "success.json"), true, ""))
	e.publish(callbackMsg(t, []byte(strings.Replace(string(sample(t, "success.json")), inReview, unmatched, 1)), true, ""))
	e.publishCreated(createdFor(created, 10000))
	waitState(t, w.url, inReview, invoice.StateReview)
	waitState(t, w.url, unmatched, invoice.StateUnmatched)
	waitState(t, w.url, created, invoice.StateCreated)
	url := func(id string) string { return w.url + "/v1/invoices/" + id + "/resolve" }

	for name, key := range map[string]string{"no key": "", "an unknown key": "dev-merchant-key"} {
		if code, _ := call(t, doc, http.MethodPost, url(unmatched), key, resolveBody("paid")); code != http.StatusUnauthorized {
			t.Errorf("%s: %d, want 401", name, code)
		}
	}
	for name, key := range map[string]string{"scope read": testSupportKey, "scope pii": testReadKey} {
		if code, _ := call(t, doc, http.MethodPost, url(unmatched), key, resolveBody("paid")); code != http.StatusForbidden {
			t.Errorf("%s: %d, want 403", name, code)
		}
	}
	for name, body := range map[string]string{
		"no body": "", "not JSON": "{", "an unknown field": `{"decision":"paid","by":"a","reason":"b","amount":1}`,
		"decision review": `{"decision":"review","by":"a","reason":"b"}`, "no reason": `{"decision":"paid","by":"a"}`,
		"a newline in by": `{"decision":"paid","by":"a\nb","reason":"b"}`, "two objects": resolveBody("paid") + "{}",
	} {
		if code, got := call(t, doc, http.MethodPost, url(unmatched), testOperatorKey, body); code != http.StatusBadRequest {
			t.Errorf("%s: %d %s, want 400", name, code, got)
		}
	}
	if code, _ := call(t, doc, http.MethodPost, url("999999999"), testOperatorKey, resolveBody("paid")); code != http.StatusNotFound {
		t.Errorf("an unknown invoice: %d, want 404", code)
	}
	if code, got := call(t, doc, http.MethodPost, url(created), testOperatorKey, resolveBody("paid")); code != http.StatusConflict || !strings.Contains(string(got), "is created") {
		t.Errorf("an invoice in created: %d %s, want 409", code, got)
	}

	// unmatched -> paid
	code, got := call(t, doc, http.MethodPost, url(unmatched), testOperatorKey, resolveBody("paid"))
	var view events.View
	if err := json.Unmarshal(got, &view); code != http.StatusOK || err != nil {
		t.Fatalf("resolve: %d %s (%v)", code, got, err)
	}
	want := events.Resolution{Decision: invoice.DecisionPaid, By: "alice@shop.kz", Reason: "the bank confirmed the transfer", Operator: "ops"}
	if r := view.Resolution; view.State != invoice.StatePaid || r == nil || r.Decision != want.Decision || r.By != want.By || r.Reason != want.Reason ||
		r.Operator != want.Operator || view.TransactionID == "" || view.Amount != 10000 || view.Currency != "KZT" {
		t.Fatalf("resolved: %+v resolution %+v", view, view.Resolution)
	}
	// the same again: done already; another decision: 409
	if code, got := call(t, doc, http.MethodPost, url(unmatched), testOperatorKey, resolveBody("paid")); code != http.StatusOK || !strings.Contains(string(got), `"state":"paid"`) {
		t.Errorf("the same decision again: %d %s, want 200", code, got)
	}
	if code, got := call(t, doc, http.MethodPost, url(unmatched), testOperatorKey, resolveBody("failed")); code != http.StatusConflict || !strings.Contains(string(got), "resolved paid by alice@shop.kz") {
		t.Errorf("another decision: %d %s, want 409", code, got)
	}
	// review -> failed
	if code, got := call(t, doc, http.MethodPost, url(inReview), testOperatorKey, resolveBody("failed")); code != http.StatusOK || !strings.Contains(string(got), `"state":"failed"`) {
		t.Fatalf("resolve a review: %d %s", code, got)
	}
	// the same resolution published again under another Nats-Msg-Id (past JetStream's
	// dedupe): the worker's own dedupe keeps it one
	b, _ := inbox.NewBuilder(inbox.DefaultShards)
	signer, _ := inbox.NewStatusSigner([]byte(testStatusKey))
	again, err := b.Resolve(inbox.ResolveBody{InvoiceID: unmatched, Resolution: invoice.Resolution{Number: 1, Decision: invoice.DecisionPaid,
		By: "alice@shop.kz", Reason: "the bank confirmed the transfer", Operator: "ops", At: time.Now()}}, signer, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	again.Header.Set(nats.MsgIdHdr, "replayed")
	e.publish(again)
	e.waitDuplicate(t, w.url)

	_, inv := get(t, w.url, unmatched)
	if len(inv.History) != 2 {
		t.Fatalf("history %+v, want the callback and the resolution", inv.History)
	}
	if h := inv.History[1]; h.Kind != invoice.MsgResolve || h.StateBefore != invoice.StateUnmatched || h.StateAfter != invoice.StatePaid ||
		len(h.Events) != 1 || !strings.Contains(string(h.Body), `"by":"alice@shop.kz"`) {
		t.Errorf("history of the resolution: %+v %s", h, h.Body)
	}
	evs := e.eventsOf(unmatched)
	if len(evs) != 1 || evs[0].Type != events.TypePrefix+"paid" || evs[0].Data.Resolution == nil || evs[0].Data.Resolution.Operator != "ops" ||
		evs[0].Data.Resolution.Decision != invoice.DecisionPaid || evs[0].Data.Callback != nil {
		t.Fatalf("events of the resolved unmatched invoice: %+v, want one payments.paid with the resolution", evs)
	}
	evs = e.eventsOf(inReview)
	if len(evs) != 2 || evs[0].Type != events.TypePrefix+"review" || evs[1].Type != events.TypePrefix+"failed" || evs[1].Data.Resolution == nil {
		t.Fatalf("events of the resolved review: %+v, want review then failed with the resolution", evs)
	}
	doc.Covered(t, "resolveInvoice 200", "resolveInvoice 400", "resolveInvoice 401", "resolveInvoice 403", "resolveInvoice 404", "resolveInvoice 409")
	e.eventsAreWhatAsyncAPISays(t)
}

// eventsAreWhatAsyncAPISays validates every message on PAYMENT_EVENTS, headers and body,
// against api/asyncapi/payment-events.yaml.
func (e *env) eventsAreWhatAsyncAPISays(t *testing.T) {
	t.Helper()
	doc := contracttest.AsyncAPI(t)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	st, err := e.js.Stream(ctx, natsbus.StreamEvents)
	if err != nil {
		t.Fatal(err)
	}
	info, err := st.Info(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for seq := info.State.FirstSeq; seq <= info.State.LastSeq && info.State.Msgs > 0; seq++ {
		raw, err := st.GetMsg(ctx, seq)
		if err != nil {
			t.Fatal(err)
		}
		if err := doc.Validate(raw.Subject, http.Header(raw.Header), raw.Data); err != nil {
			t.Errorf("event %d on %s is not what the AsyncAPI document says: %v\n%s", seq, raw.Subject, err, raw.Data)
		}
	}
}

// waitDuplicate waits until the worker counted a duplicate resolution: the replay above
// was handled, and made nothing.
func (e *env) waitDuplicate(t *testing.T, base string) {
	t.Helper()
	waitFor(t, 10*time.Second, "the replayed resolution handled as a duplicate", func() bool {
		return metricValue(t, base, `epayflow_worker_messages_total{kind="resolve",outcome="duplicate"}`) == 1
	})
}

// A resolution anyone could publish moves nothing: the worker refuses one that is not
// signed with the workers' key (to the DLQ), and the invoice stays in review.
func TestForgedResolutionsMoveNothing(t *testing.T) {
	e := newEnv(t)
	w := e.start(e.operatorConfig())
	const id = "191111111"
	e.publishCreated(createdFor(id, 100))
	e.publish(callbackMsg(t, sample(t, "success.json"), true, ""))
	waitState(t, w.url, id, invoice.StateReview)
	b, _ := inbox.NewBuilder(inbox.DefaultShards)
	res := inbox.ResolveBody{InvoiceID: id, Resolution: invoice.Resolution{Number: 1, Decision: invoice.DecisionPaid, By: "mallory", Reason: "trust me",
		Operator: "ops", At: time.Now()}}
	forger, _ := inbox.NewStatusSigner([]byte("not-the-workers-key-0123"))
	forged, _ := b.Resolve(res, forger, time.Now())
	unsigned, _ := b.Resolve(res, forger, time.Now())
	unsigned.Header.Del(inbox.HeaderResolveSignature)
	unsigned.Header.Set(nats.MsgIdHdr, "unsigned")
	statusSigned, _ := b.Resolve(res, forger, time.Now()) // the workers' key, but a status's signature
	workers, _ := inbox.NewStatusSigner([]byte(testStatusKey))
	statusSigned.Header.Set(inbox.HeaderResolveSignature, workers.Sign(statusSigned.Subject, statusSigned.Data))
	statusSigned.Header.Set(nats.MsgIdHdr, "status-signed")
	for _, m := range []*nats.Msg{forged, unsigned, statusSigned} {
		e.publish(m)
	}
	waitFor(t, 10*time.Second, "3 DLQ entries", func() bool { return len(e.dlqEntries()) == 3 })
	for _, d := range e.dlqEntries() {
		if !strings.Contains(d.Reason, "resolution") {
			t.Errorf("DLQ entry %+v: want the resolution's refusal as its reason", d)
		}
	}
	code, inv := get(t, w.url, id)
	if code != http.StatusOK || inv.State != invoice.StateReview || inv.Resolution != nil || len(inv.History) != 2 {
		t.Fatalf("after forged resolutions: %d %s %+v, %d history entries", code, inv.State, inv.Resolution, len(inv.History))
	}
	if n := len(e.eventsOf(id)); n != 1 {
		t.Errorf("%d events, want the review only", n)
	}
}

// Any worker resolves any invoice: the one asked need not own its shard.
func TestAnyWorkerResolvesAnInvoiceOfAnotherWorkersShard(t *testing.T) {
	e := newEnv(t)
	even, odd := e.operatorConfig(), e.operatorConfig()
	even.DB, odd.DB = e.db+".even", e.db+".odd"
	even.OwnShards, odd.OwnShards = nil, nil
	for s := range inbox.DefaultShards {
		if s%2 == 0 {
			even.OwnShards = append(even.OwnShards, s)
		} else {
			odd.OwnShards = append(odd.OwnShards, s)
		}
	}
	we, wo := e.start(even), e.start(odd)
	id := "191111111"
	owner, other := we, wo
	if inbox.Shard(id, inbox.DefaultShards)%2 == 1 {
		owner, other = wo, we
	}
	e.publishCreated(createdFor(id, 100))
	e.publish(callbackMsg(t, sample(t, "success.json"), true, ""))
	waitState(t, owner.url, id, invoice.StateReview)
	doc := contracttest.OpenAPI(t, "worker")
	if code, got := call(t, doc, http.MethodPost, other.url+"/v1/invoices/"+id+"/resolve", testOperatorKey, resolveBody("paid")); code != http.StatusOK ||
		!strings.Contains(string(got), `"state":"paid"`) {
		t.Fatalf("resolve through the worker that does not own the shard: %d %s", code, got)
	}
	waitState(t, owner.url, id, invoice.StatePaid)
}

// With nobody consuming the invoice's shard, the resolution waits in the inbox: 202
// with its message id, then applied once an owner comes.
func TestAResolutionWaitsForTheShardsOwner(t *testing.T) {
	e := newEnv(t)
	cfg := e.operatorConfig()
	w := e.start(cfg)
	const id = "191111111"
	e.publishCreated(createdFor(id, 100))
	e.publish(callbackMsg(t, sample(t, "success.json"), true, ""))
	waitState(t, w.url, id, invoice.StateReview)
	if err := w.stop(t); err != nil {
		t.Fatal(err)
	}
	// a resolver as any worker runs it, with a short wait
	rs := &resolver{js: e.js, changes: testChangelog(t, e), keys: cfg.ReadKeys, wait: 200 * time.Millisecond,
		now: func() time.Time { return time.Now().UTC() }, log: e.log}
	rs.msgs, _ = inbox.NewBuilder(inbox.DefaultShards)
	rs.signer, _ = inbox.NewStatusSigner([]byte(testStatusKey))
	srv := newTestServer(t, rs)
	doc := contracttest.OpenAPI(t, "worker")
	code, got := call(t, doc, http.MethodPost, srv+"/v1/invoices/"+id+"/resolve", testOperatorKey, resolveBody("paid"))
	var acc ResolveAccepted
	if err := json.Unmarshal(got, &acc); code != http.StatusAccepted || err != nil || acc.MessageID != inbox.ResolveMsgID(id, 1, invoice.DecisionPaid) {
		t.Fatalf("no owner: %d %s, want 202 with the message id", code, got)
	}
	w2 := e.start(cfg) // the owner is back
	waitState(t, w2.url, id, invoice.StatePaid)
	doc.Covered(t, "resolveInvoice 202")
}

// newTestServer serves h's resolve route on a loopback port until the test ends; its URL.
func newTestServer(t *testing.T, h http.Handler) string {
	t.Helper()
	mux := http.NewServeMux()
	mux.Handle("POST /v1/invoices/{invoiceId}/resolve", h)
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	return srv.URL
}
