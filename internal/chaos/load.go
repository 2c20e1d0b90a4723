package chaos

import (
	"context"
	"fmt"
	"math/rand/v2"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/epayflow/epayflow/internal/epay"
	"github.com/epayflow/epayflow/internal/epaytest"
	"github.com/epayflow/epayflow/internal/inbox"
	"github.com/epayflow/epayflow/internal/invoice"
	"github.com/epayflow/epayflow/internal/sandbox"
)

// scenario is what happens to one invoice.
type scenario uint8

const (
	scPaid          scenario = iota // success, duplicated
	scFailThenPaid                  // failure (wait for its 200), then success: out of order for ePay's retry
	scFailed                        // failure, duplicated
	scMismatch                      // success with another amount: review
	scRetriesPaid                   // two failures (two transactions), then a success
	scDoublePayment                 // two successes with different transactions: paid, and a review event when the worker sees it (see finalState)
	scForged                        // success with a secret_hash that does not verify: every POST 401
	scNoCreated                     // success for an invoice whose invoice.created never comes: unmatched
)

var scenarioNames = map[scenario]string{scPaid: "paid", scFailThenPaid: "failure-then-success", scFailed: "failed",
	scMismatch: "mismatch", scRetriesPaid: "retries-then-paid", scDoublePayment: "double-payment", scForged: "forged",
	scNoCreated: "no-invoice-created"}

// finalState is the state each scenario must end in, whatever the order of delivery,
// with confirmation on: a success is a claim until the sandbox's status API (which knows
// every transaction the load paid) makes the invoice paid; a success of another amount
// goes to review at once; the forged success is refused by the ingest, so its invoice,
// which the worker never asks about, stays created; a double payment stays paid (it
// raises a review event only when the second callback comes after the status answer
// that made the invoice paid names the first transaction: see verify).
var finalState = map[scenario]string{scPaid: "paid", scFailThenPaid: "paid", scFailed: "failed", scMismatch: "review",
	scRetriesPaid: "paid", scDoublePayment: "paid", scForged: "created", scNoCreated: "unmatched"}

// plan is one invoice of the load.
type plan struct {
	ID          string
	Scenario    scenario
	Amount      epay.Amount
	Dup         int  // each callback is POSTed this many times
	CreatedLate bool // invoice.created only after the callbacks got their 200
	Replay      bool // one accepted callback is POSTed once more at the end (a late ePay retry)
}

// makePlans draws n invoices. Weights: paid 20%, failure-then-success 25%, failed 10%,
// mismatch 10%, retries-then-paid 20%, double payment 5%, forged 5%, no invoice.created 5%.
func makePlans(n int, r *rand.Rand) []plan {
	weights := []struct {
		sc scenario
		w  int
	}{{scPaid, 20}, {scFailThenPaid, 25}, {scFailed, 10}, {scMismatch, 10}, {scRetriesPaid, 20},
		{scDoublePayment, 5}, {scForged, 5}, {scNoCreated, 5}}
	plans := make([]plan, n)
	for i := range plans {
		x, sc := r.IntN(100), scPaid
		for _, w := range weights {
			if x < w.w {
				sc = w.sc
				break
			}
			x -= w.w
		}
		plans[i] = plan{ID: fmt.Sprintf("9%08d", i+1), Scenario: sc, Amount: epay.Amount(100 + r.IntN(1_000_000)),
			Dup: 4 + r.IntN(5), CreatedLate: sc != scForged && sc != scNoCreated && r.IntN(5) == 0,
			Replay: sc != scForged}
	}
	return plans
}

// load sends the plans: invoice.created on NATS as the initiator does, callbacks to the
// ingest through epaytest.TriggerWithIDs and its retrying Deliverer, each transaction
// recorded in the sandbox first (as its card form does) so that the status API the
// worker asks knows it.
type load struct {
	ingestURLs []string // the invoices spread over them
	sandbox    *sandbox.Sandbox
	shards     int
	keys       *epay.Keyring
	js         jetstream.JetStream
	client     *http.Client
	ledger     *ledger
	deadline   time.Duration // of one publish or callback, all retries

	createdMu      sync.Mutex
	created        map[string]bool // invoice.created that got their PubAck
	createdRetries atomic.Int64
	problemsMu     sync.Mutex
	problems       []string
}

func (l *load) problem(format string, args ...any) {
	l.problemsMu.Lock()
	l.problems = append(l.problems, fmt.Sprintf(format, args...))
	l.problemsMu.Unlock()
}

// run plays one plan to its end.
func (l *load) run(ctx context.Context, p plan) {
	if p.Scenario != scNoCreated && !p.CreatedLate {
		l.publishCreated(ctx, p)
	}
	var first []byte
	ingestURL := l.ingestURLs[inbox.Shard(p.ID, len(l.ingestURLs))] // each invoice to one ingest, spread evenly
	for i, step := range p.steps() {
		o := step
		o.URL, o.FailureURL = ingestURL+"/epay/postlink", ingestURL+"/epay/failure-postlink"
		o.InvoiceID, o.Terminal, o.Keys, o.Duplicates, o.Client = p.ID, epaytest.TestTerminal, l.keys, p.Dup, l.client
		ids, err := l.record(p, i, o)
		if err != nil {
			l.problem("invoice %s: record in the sandbox: %v", p.ID, err)
			return
		}
		res, err := epaytest.TriggerWithIDs(ctx, o, ids...)
		if err != nil {
			l.problem("invoice %s: trigger: %v", p.ID, err)
			return
		}
		if n := res.Unexpected(); n > 0 {
			l.problem("invoice %s (%s): %d of %d POSTs not answered as they should (last status %d)",
				p.ID, scenarioNames[p.Scenario], n, len(res.Posts), res.Posts[len(res.Posts)-1].Status)
		}
		if first == nil {
			first = l.ledger.firstOK(p.ID)
		}
	}
	if p.CreatedLate {
		l.publishCreated(ctx, p)
	}
	if p.Replay && first != nil {
		if status, err := epaytest.Post(ctx, l.client, ingestURL+"/epay/postlink", first); err != nil {
			l.problem("invoice %s: replay: %v", p.ID, err)
		} else if status != http.StatusOK {
			l.problem("invoice %s: replay answered %d", p.ID, status)
		}
	}
}

// record makes the transaction ids of step i of p (two with OutOfOrder: the failure,
// then the success) and records them in the sandbox as its card form would, in the
// order the customer paid, except for a forged callback: ePay made no such payment.
func (l *load) record(p plan, i int, o epaytest.TriggerOptions) ([]string, error) {
	type txn struct {
		id         string
		reasonCode int
	}
	reason := o.ReasonCode
	if reason == 0 {
		reason = 484 // Trigger's default
	}
	var txns []txn
	if o.OutOfOrder {
		txns = append(txns, txn{fmt.Sprintf("chaos-%s-%d-f", p.ID, i), reason})
	}
	if o.Kind == epaytest.KindFailure {
		txns = append(txns, txn{fmt.Sprintf("chaos-%s-%d-f", p.ID, i), reason})
	} else {
		txns = append(txns, txn{fmt.Sprintf("chaos-%s-%d-s", p.ID, i), 0})
	}
	ids := make([]string, len(txns))
	for j, t := range txns {
		ids[j] = t.id
		if o.WrongHash {
			continue
		}
		if err := l.sandbox.RecordPayment(p.ID, o.Amount, "KZT", o.Terminal, t.id, t.reasonCode); err != nil {
			return nil, err
		}
	}
	return ids, nil
}

// steps are the Trigger calls of a plan, without what run fills in.
func (p plan) steps() []epaytest.TriggerOptions {
	success := epaytest.TriggerOptions{Kind: epaytest.KindSuccess, Amount: p.Amount}
	failure := epaytest.TriggerOptions{Kind: epaytest.KindFailure, Amount: p.Amount, ReasonCode: 484}
	switch p.Scenario {
	case scFailThenPaid:
		success.OutOfOrder = true
		return []epaytest.TriggerOptions{success}
	case scFailed:
		return []epaytest.TriggerOptions{failure}
	case scMismatch:
		success.Amount = p.Amount + 1
		return []epaytest.TriggerOptions{success}
	case scRetriesPaid:
		second := failure
		second.ReasonCode = 455
		return []epaytest.TriggerOptions{failure, second, success}
	case scDoublePayment:
		return []epaytest.TriggerOptions{success, success}
	case scForged:
		success.WrongHash = true
		return []epaytest.TriggerOptions{success}
	default: // paid, no invoice.created
		return []epaytest.TriggerOptions{success}
	}
}

// publishCreated publishes invoice.created exactly as the initiator does, retrying
// until the PubAck (a retry after a lost PubAck is a duplicate the stream drops).
func (l *load) publishCreated(ctx context.Context, p plan) {
	b, err := inbox.NewBuilder(l.shards)
	if err != nil {
		l.problem("invoice %s: %v", p.ID, err)
		return
	}
	now := time.Now().UTC()
	msg, err := b.Created(invoice.Created{InvoiceID: p.ID, Kind: "payment", Amount: p.Amount, Currency: "KZT",
		Terminal: epaytest.TestTerminal, Description: "chaos " + scenarioNames[p.Scenario], CreatedAt: now}, l.keys, now)
	if err != nil {
		l.problem("invoice %s: %v", p.ID, err)
		return
	}
	start, backoff := time.Now(), 50*time.Millisecond
	for {
		pctx, cancel := context.WithTimeout(ctx, 2*time.Second)
		_, err := l.js.PublishMsg(pctx, msg, jetstream.WithExpectStream(inbox.Stream))
		cancel()
		if err == nil {
			l.createdMu.Lock()
			l.created[p.ID] = true
			l.createdMu.Unlock()
			return
		}
		if time.Since(start) > l.deadline || ctx.Err() != nil {
			l.problem("invoice %s: invoice.created not stored within %s: %v", p.ID, l.deadline, err)
			return
		}
		l.createdRetries.Add(1)
		select {
		case <-ctx.Done():
		case <-time.After(backoff):
		}
		backoff = min(2*backoff, time.Second)
	}
}
