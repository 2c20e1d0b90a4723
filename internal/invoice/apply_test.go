package invoice

import (
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/epayflow/epayflow/internal/epay"
)

const (
	testInvoice  = "191111111"
	testTerminal = "67e34d63-102f-4bd1-898e-370781d0074d"
)

var t0 = time.Date(2024, 7, 29, 10, 0, 0, 0, time.UTC)

func created() Message {
	return CreatedMessage(testInvoice, Created{
		InvoiceID: testInvoice, Kind: "payment", Amount: 10000, Currency: "KZT", Terminal: testTerminal, CreatedAt: t0,
	}, t0)
}

// callback builds a callback message; edit tweaks the payment before the id is derived.
func callback(kind MessageKind, tx string, edit func(*Payment)) Message {
	p := &Payment{TransactionID: tx, Amount: 10000, Currency: "KZT", Terminal: testTerminal,
		CardMask: "440043...2222", Verified: true, Raw: []byte(`{"id":"` + tx + `"}`)}
	if kind == MsgFailure {
		p.ReasonCode, p.Reason = 484, "insufficient funds"
	}
	if edit != nil {
		edit(p)
	}
	id := fmt.Sprintf("cb:%s:%s:%s:%s:%t", testInvoice, tx, kind, p.Amount.String()+p.Currency+p.Terminal+p.CardMask, p.Verified)
	return Message{ID: id, Kind: kind, InvoiceID: testInvoice, ReceivedAt: t0, Payment: p}
}

func mustApply(t *testing.T, cur *Invoice, msgs ...Message) *Invoice {
	t.Helper()
	for _, m := range msgs {
		next, _, err := Apply(cur, m, t0)
		if err != nil {
			t.Fatalf("setup: apply %s: %v", m.ID, err)
		}
		cur = &next
	}
	return cur
}

// base returns an invoice in the given state ("unknown" is nil) and the last message applied.
func base(t *testing.T, state string) (*Invoice, Message) {
	t.Helper()
	pendingFailure := callback(MsgFailure, "tx-old", nil)
	switch state {
	case "unknown":
		return nil, Message{}
	case "unmatched":
		return mustApply(t, nil, pendingFailure), pendingFailure
	case "created":
		return mustApply(t, nil, created()), created()
	case "paid":
		m := callback(MsgSuccess, "tx-paid", nil)
		return mustApply(t, nil, created(), m), m
	case "failed":
		m := callback(MsgFailure, "tx-failed", nil)
		return mustApply(t, nil, created(), m), m
	case "review":
		m := callback(MsgSuccess, "tx-review", func(p *Payment) { p.Amount = 5000 })
		return mustApply(t, nil, created(), m), m
	case "confirming": // created, a success waits for the status API (whose answers name its transaction)
		m := callback(MsgSuccess, "tx-status", func(p *Payment) { p.Confirm = true })
		return mustApply(t, nil, created(), m), m
	case "confirming unverified": // created, an unverified success made the worker ask
		m := callback(MsgSuccess, "tx-claim", func(p *Payment) { p.Verified, p.Confirm = false, true })
		return mustApply(t, nil, created(), m), m
	case "not final unverified": // created, an unverified failure (anyone's) made the worker ask
		m := callback(MsgFailure, "tx-anyone", func(p *Payment) { p.Verified, p.Confirm, p.ReasonCode = false, true, -498 })
		return mustApply(t, nil, created(), m), m
	case "not final": // created, a failure ePay calls not final (454) waits for the final answer
		m := callback(MsgFailure, "tx-454", func(p *Payment) { p.ReasonCode = 454 })
		return mustApply(t, nil, created(), m), m
	}
	t.Fatalf("no base state %q", state)
	return nil, Message{}
}

// messages is every kind of message the worker can see, by name.
func messages() map[string]Message {
	return map[string]Message{
		"created":            created(),
		"success":            callback(MsgSuccess, "tx-new", nil),
		"success same tx":    callback(MsgSuccess, "tx-paid", func(p *Payment) { p.CardMask = "x" }),
		"success amount":     callback(MsgSuccess, "tx-new", func(p *Payment) { p.Amount = 9999 }),
		"success currency":   callback(MsgSuccess, "tx-new", func(p *Payment) { p.Currency = "USD" }),
		"success terminal":   callback(MsgSuccess, "tx-new", func(p *Payment) { p.Terminal = "other" }),
		"success unverified": callback(MsgSuccess, "tx-new", func(p *Payment) { p.Verified = false }),
		"failure":            callback(MsgFailure, "tx-new", nil),

		"success confirm":            callback(MsgSuccess, "tx-new", func(p *Payment) { p.Confirm = true }),
		"success unverified confirm": callback(MsgSuccess, "tx-new", func(p *Payment) { p.Verified, p.Confirm = false, true }),
		"success amount confirm":     callback(MsgSuccess, "tx-new", func(p *Payment) { p.Amount, p.Confirm = 9999, true }),
		"status paid":                status("100", "CHARGE", 10000),
		"status paid amount":         status("100", "CHARGE", 5000),
		"status rejected":            status("101", "REJECT", 10000),
		"status not found":           status("102", "", 0),

		"failure not final":          callback(MsgFailure, "tx-new", func(p *Payment) { p.ReasonCode = 454 }),
		"status in progress":         status("107", "", 0),
		"status new":                 status("100", "NEW", 10000),
		"status rejected not final":  withStatus(status("101", "REJECT", 10000), func(s *Status) { s.ReasonCode = 454 }),
		"status not found give up":   withStatus(status("102", "", 0), func(s *Status) { s.GiveUp = true }),
		"status in progress give up": withStatus(status("107", "", 0), func(s *Status) { s.GiveUp = true }),
		"status unanswered give up": withStatus(status("", "", 0), func(s *Status) {
			s.GiveUp, s.Unanswered = true, "epay: unavailable"
		}),
		"status refund":         status("100", "REFUND", 10000),
		"status unknown name":   status("100", "SETTLED", 10000),
		"status no transaction": status("100", "", 0),
		// a payment made in full, then partly refunded: orgAmount still matches
		"status partial refund": withStatus(status("100", "CHARGE", 10000), func(s *Status) { s.Refunded = 5000 }),

		// unverified callbacks (anyone could send them) never move an invoice by themselves
		"failure unverified":                callback(MsgFailure, "tx-new", func(p *Payment) { p.Verified = false }),
		"failure unverified confirm":        callback(MsgFailure, "tx-new", func(p *Payment) { p.Verified, p.Confirm = false, true }),
		"success unverified amount confirm": callback(MsgSuccess, "tx-new", func(p *Payment) { p.Verified, p.Confirm, p.Amount = false, true, 1 }),
	}
}

// withStatus edits a status message's answer (the id is kept apart by the edit's name).
func withStatus(m Message, edit func(*Status)) Message {
	s := *m.Status
	edit(&s)
	m.Status = &s
	m.ID += fmt.Sprintf(":%d:%t:%s:%d", s.ReasonCode, s.GiveUp, s.Unanswered, s.Refunded)
	return m
}

// status builds a status answer for the test invoice.
func status(code, statusName string, amount epay.Amount) Message {
	s := Status{Check: 1, Purpose: PurposeConfirm, ResultCode: code, StatusName: statusName, TransactionID: "tx-status",
		Amount: amount, Currency: "KZT", Terminal: testTerminal, Raw: []byte(`{"resultCode":"` + code + `"}`)}
	return StatusMessage("st:"+code+statusName+amount.String(), testInvoice, s, t0)
}

func TestApplyEveryStateAndMessage(t *testing.T) {
	type want struct {
		state   State
		events  []EventType
		reason  string // substring of the review reason, when an event says one
		err     error
		pending bool // a claim waits for ePay's status API after it (Confirmation set)
	}
	paid, failed, review := []EventType{EventPaid}, []EventType{EventFailed}, []EventType{EventReview}
	tests := map[string]map[string]want{
		"unknown": {
			"created": {state: StateCreated}, "success": {state: StateUnmatched}, "success same tx": {state: StateUnmatched},
			"success amount": {state: StateUnmatched}, "success currency": {state: StateUnmatched},
			"success terminal": {state: StateUnmatched}, "success unverified": {state: StateUnmatched},
			"failure": {state: StateUnmatched},
		},
		"unmatched": { // holds a failure; invoice.created re-applies it
			"created": {state: StateFailed, events: failed}, "success": {state: StateUnmatched},
			"success same tx": {state: StateUnmatched}, "success amount": {state: StateUnmatched},
			"success currency": {state: StateUnmatched}, "success terminal": {state: StateUnmatched},
			"success unverified": {state: StateUnmatched}, "failure": {state: StateUnmatched},
			"duplicate": {state: StateUnmatched, err: ErrDuplicate},
		},
		"created": {
			"created": {state: StateCreated, err: ErrDuplicate}, "success": {state: StatePaid, events: paid},
			"success same tx":    {state: StatePaid, events: paid},
			"success amount":     {state: StateReview, events: review, reason: "amount 99.99 != invoice 100"},
			"success currency":   {state: StateReview, events: review, reason: `currency "USD" != invoice KZT`},
			"success terminal":   {state: StateReview, events: review, reason: `terminal "other"`},
			"success unverified": {state: StateCreated}, // nobody checked it: history only
			"failure":            {state: StateFailed, events: failed},
			"duplicate":          {state: StateCreated, err: ErrDuplicate},
		},
		"paid": { // never leaves paid; another verified transaction is a double payment
			"created":         {state: StatePaid, err: ErrDuplicate},
			"success":         {state: StatePaid, events: review, reason: "double payment: transaction tx-new after tx-paid"},
			"success same tx": {state: StatePaid}, "success amount": {state: StatePaid, events: review, reason: "amount 99.99"},
			"success currency":   {state: StatePaid, events: review, reason: "double payment"},
			"success terminal":   {state: StatePaid, events: review, reason: "double payment"},
			"success unverified": {state: StatePaid}, "failure": {state: StatePaid},
			"duplicate": {state: StatePaid, err: ErrDuplicate},
		},
		"failed": { // the customer may retry
			"created": {state: StateFailed, err: ErrDuplicate}, "success": {state: StatePaid, events: paid},
			"success same tx":    {state: StatePaid, events: paid},
			"success amount":     {state: StateReview, events: review, reason: "amount"},
			"success currency":   {state: StateReview, events: review, reason: "currency"},
			"success terminal":   {state: StateReview, events: review, reason: "terminal"},
			"success unverified": {state: StateFailed},
			"failure":            {state: StateFailed}, "duplicate": {state: StateFailed, err: ErrDuplicate},
		},
		"review": { // a matching verified success settles it; anything else waits for a human
			"created": {state: StateReview, err: ErrDuplicate}, "success": {state: StatePaid, events: paid},
			"success same tx": {state: StatePaid, events: paid}, "success amount": {state: StateReview},
			"success currency": {state: StateReview}, "success terminal": {state: StateReview},
			"success unverified": {state: StateReview}, "failure": {state: StateReview},
			"duplicate": {state: StateReview, err: ErrDuplicate},
		},
	}
	for stateName, row := range trustCases() {
		if tests[stateName] == nil {
			tests[stateName] = map[string]want{}
		}
		for msg, c := range row {
			tests[stateName][msg] = want(c)
		}
	}
	for stateName, row := range finalityCases(paid, failed, review) {
		if tests[stateName] == nil {
			tests[stateName] = map[string]want{}
		}
		for msg, c := range row {
			tests[stateName][msg] = want(c)
		}
	}
	for stateName, row := range confirmationCases(paid, failed, review) {
		if tests[stateName] == nil {
			tests[stateName] = map[string]want{}
		}
		for msg, c := range row {
			tests[stateName][msg] = want(c)
		}
	}
	for stateName, row := range tests {
		for msgName, w := range row {
			t.Run(stateName+"/"+msgName, func(t *testing.T) {
				cur, last := base(t, stateName)
				msg, ok := messages()[msgName]
				if msgName == "duplicate" {
					msg, ok = last, true
				}
				if !ok {
					t.Fatalf("no message %q", msgName)
				}
				got, events, err := Apply(cur, msg, t0.Add(time.Minute))
				if !errors.Is(err, w.err) {
					t.Fatalf("err = %v, want %v", err, w.err)
				}
				if got.State != w.state {
					t.Errorf("state = %s, want %s", got.State, w.state)
				}
				var types []EventType
				for _, e := range events {
					types = append(types, e.Type)
					if !strings.Contains(e.Reason, w.reason) {
						t.Errorf("event reason %q does not say %q", e.Reason, w.reason)
					}
				}
				if !slices.Equal(types, w.events) {
					t.Errorf("events = %v, want %v", types, w.events)
				}
				if pending := got.Confirmation != ""; err == nil && pending != w.pending {
					t.Errorf("confirmation pending = %v, want %v", pending, w.pending)
				}
				if err != nil && cur != nil && got.Version != cur.Version {
					t.Errorf("a rejected message changed the version %d -> %d", cur.Version, got.Version)
				}
			})
		}
	}
	// every state and every message appears in the table
	for _, s := range States {
		if _, ok := tests[string(s)]; !ok {
			t.Errorf("state %s has no row", s)
		}
	}
	for name := range messages() {
		for stateName, row := range tests {
			if _, ok := row[name]; !ok {
				t.Errorf("state %s has no column %q", stateName, name)
			}
		}
	}
}

// Unverified callbacks, each with its own id, cannot grow an invoice without bound: past
// MaxMessagesForUnverified messages one more is refused (ErrOverLimit: not applied, not
// sent to the DLQ), while a verified callback is still applied.
func TestUnverifiedCallbacksCannotGrowAnInvoiceWithoutBound(t *testing.T) {
	cur := mustApply(t, nil, created())
	for i := len(cur.Applied); i < MaxMessagesForUnverified; i++ {
		cur = mustApply(t, cur, callback(MsgFailure, fmt.Sprintf("forged-%d", i), func(p *Payment) { p.Verified = false }))
	}
	if cur.State != StateCreated || len(cur.Applied) != MaxMessagesForUnverified {
		t.Fatalf("after %d unverified failures: %s, %d applied", MaxMessagesForUnverified-1, cur.State, len(cur.Applied))
	}
	_, _, err := Apply(cur, callback(MsgSuccess, "forged-more", func(p *Payment) { p.Verified = false }), t0)
	if !errors.Is(err, ErrOverLimit) || errors.Is(err, ErrInvalid) {
		t.Fatalf("one unverified callback more: %v, want ErrOverLimit (and not ErrInvalid: the DLQ)", err)
	}
	paid, _, err := Apply(cur, callback(MsgSuccess, "tx-real", nil), t0)
	if err != nil || paid.State != StatePaid {
		t.Fatalf("the real, verified callback after them: %s, %v; want paid", paid.State, err)
	}
}

// A payment ePay's status showed of another amount sent the invoice to review: it took
// money, so when another payment then pays the invoice that is a double payment, raised
// after the paid event, not a review closed without a human. ePay's answer about that
// transaction with the invoice's amount pays it without one. A callback of another amount
// is not counted so (secret_hash does not bind the amount: anyone who knows it can make a
// verified one).
func TestAReviewsPaymentCountsWhenAnotherPaysTheInvoice(t *testing.T) {
	half := status("100", "CHARGE", 5000)
	half.Status.TransactionID = "tx-half"
	cur := mustApply(t, nil, created(), half)
	if cur.State != StateReview {
		t.Fatalf("setup: %s", cur.State)
	}
	got, events, err := Apply(cur, callback(MsgSuccess, "tx-full", nil), t0)
	if err != nil || got.State != StatePaid || len(events) != 2 || events[0].Type != EventPaid || events[1].Type != EventReview {
		t.Fatalf("paid by another transaction: %s %v %v, want paid, then a review", got.State, events, err)
	}
	if !got.DoublePayment || got.TransactionID != "tx-full" || !strings.Contains(events[1].Reason, "tx-half besides tx-full") {
		t.Errorf("double payment %v, paid with %s, reason %q", got.DoublePayment, got.TransactionID, events[1].Reason)
	}
	full := status("100", "CHARGE", 10000)
	full.Status.TransactionID = "tx-half" // ePay: that transaction took the whole amount after all
	got, events, err = Apply(cur, full, t0)
	if err != nil || got.State != StatePaid || len(events) != 1 || got.DoublePayment || len(got.OtherTransactions) != 0 {
		t.Fatalf("that transaction confirmed: %s %v %v, other %v; want paid, one event", got.State, events, err, got.OtherTransactions)
	}
	// a verified callback of another amount (anyone who knows secret_hash can make one)
	byCallback := mustApply(t, nil, created(), callback(MsgSuccess, "tx-forged", func(p *Payment) { p.Amount = 1 }))
	got, events, err = Apply(byCallback, callback(MsgSuccess, "tx-full", nil), t0)
	if err != nil || got.State != StatePaid || len(events) != 1 || got.DoublePayment {
		t.Fatalf("paid after a callback of another amount: %s %v %v, want paid, no double payment", got.State, events, err)
	}
}

// A human who resolves such a review as paid accepts that payment as the invoice's: it is
// not counted again as another one, and a later payment is a double payment of its own.
func TestAReviewsPaymentAcceptedByAHumanIsTheInvoicesOwn(t *testing.T) {
	half := status("100", "CHARGE", 5000)
	half.Status.TransactionID = "tx-half"
	cur := mustApply(t, nil, created(), half, resolve(1, DecisionPaid))
	if cur.State != StatePaid || cur.TransactionID != "tx-half" || len(cur.OtherTransactions) != 0 {
		t.Fatalf("resolved paid: %s with %s, other %v; want paid with tx-half and no other", cur.State, cur.TransactionID, cur.OtherTransactions)
	}
	_, events, err := Apply(cur, callback(MsgSuccess, "tx-late", nil), t0)
	if err != nil || len(events) != 1 || !strings.Contains(events[0].Reason, "double payment: transaction tx-late after tx-half: look tx-late up in ePay's cabinet before any refund") {
		t.Fatalf("a later payment: %v %v, want one double-payment review naming tx-late after tx-half", events, err)
	}
}

// A success paid partly with Halyk's bonuses (amountBonus; the card's part is amount)
// whose parts add up to the invoice goes to review saying so, for a human to ask ePay
// what the merchant is paid; parts that do not add up are the plain mismatch.
func TestASuccessPaidPartlyWithBonusesGoesToReviewSayingSo(t *testing.T) {
	if m := CallbackMessage("cb:1", &epay.Callback{InvoiceID: testInvoice, Code: "ok", Amount: 1500, AmountBonus: 8500}, true, t0); m.Payment.Bonus != 8500 {
		t.Fatalf("a callback's amountBonus 85 becomes the payment's bonus %s", m.Payment.Bonus)
	}
	inv := mustApply(t, nil, created())
	for _, c := range []struct {
		amount, bonus epay.Amount
		reason        string
	}{
		{1500, 8500, "mismatch: amount 15 + bonuses 85 = invoice 100 (paid partly with Halyk bonuses: ask ePay what the merchant is paid, then resolve)"},
		{1500, 8000, "mismatch: amount 15 != invoice 100"},
		{1500, 0, "mismatch: amount 15 != invoice 100"},
	} {
		m := callback(MsgSuccess, "tx-bonus", func(p *Payment) { p.Amount, p.Bonus = c.amount, c.bonus })
		next, evs, err := Apply(inv, m, t0)
		if err != nil {
			t.Fatal(err)
		}
		if next.State != StateReview || next.ReviewReason != c.reason || len(evs) != 1 || evs[0].Type != EventReview {
			t.Errorf("amount %s bonus %s: state %s, reason %q, events %d; want review, %q", c.amount, c.bonus, next.State, next.ReviewReason, len(evs), c.reason)
		}
	}
}

// The token binds neither accountId nor cardSave: a shopper who edits the payment object's
// accountId pays (and may save a card) as another customer of the shop. A success whose
// accountId is not the invoice's goes to review, confirmed by ePay's status or not; one
// without an accountId (ePay's echo missing) is judged without it.
func TestASuccessOfAnotherAccountIDGoesToReview(t *testing.T) {
	withAccount := CreatedMessage(testInvoice, Created{InvoiceID: testInvoice, Kind: "payment", Amount: 10000, Currency: "KZT",
		Terminal: testTerminal, AccountID: "customer-1", CreatedAt: t0}, t0)
	for _, confirm := range []bool{false, true} {
		for account, want := range map[string]State{"customer-2": StateReview, "customer-1": StatePaid, "": StatePaid} {
			inv := mustApply(t, nil, withAccount)
			m := callback(MsgSuccess, "tx-acc", func(p *Payment) { p.AccountID, p.Confirm = account, confirm })
			next, _, err := Apply(inv, m, t0)
			if err != nil {
				t.Fatal(err)
			}
			if confirm && next.State == StateCreated { // waits for ePay's word: it confirms the payment
				st := withStatus(status("100", "CHARGE", 10000), func(s *Status) { s.TransactionID = "tx-acc" })
				next, _, err = Apply(&next, st, t0)
				if err != nil {
					t.Fatal(err)
				}
			}
			if next.State != want || want == StateReview && !strings.Contains(next.ReviewReason, `accountId "customer-2" != invoice "customer-1"`) {
				t.Errorf("confirm %t, callback accountId %q: state %s (%q), want %s", confirm, account, next.State, next.ReviewReason, want)
			}
		}
	}
	// an invoice made without an accountId takes a callback with one (ePay's form may set it)
	inv := mustApply(t, nil, created())
	if next, _, err := Apply(inv, callback(MsgSuccess, "tx-acc", func(p *Payment) { p.AccountID = "customer-9" }), t0); err != nil || next.State != StatePaid {
		t.Errorf("an invoice without accountId, a callback with one: %s %v, want paid", next.State, err)
	}
}

// The same when ePay's status answer decides (the reconciler, a callback lost): its
// accountID is judged as a callback's.
func TestAStatusOfAnotherAccountIDGoesToReview(t *testing.T) {
	withAccount := CreatedMessage(testInvoice, Created{InvoiceID: testInvoice, Kind: "payment", Amount: 10000, Currency: "KZT",
		Terminal: testTerminal, AccountID: "customer-1", CreatedAt: t0}, t0)
	for account, want := range map[string]State{"customer-2": StateReview, "customer-1": StatePaid} {
		inv := mustApply(t, nil, withAccount)
		st := withStatus(status("100", "CHARGE", 10000), func(s *Status) { s.Purpose, s.AccountID = PurposeReconcile, account })
		next, _, err := Apply(inv, st, t0)
		if err != nil {
			t.Fatal(err)
		}
		if next.State != want {
			t.Errorf("a reconciling status with accountID %q: %s (%q), want %s", account, next.State, next.ReviewReason, want)
		}
	}
}

// Verified callbacks need no more than the invoice's secret_hash, which its buyer can
// learn: past MaxMessagesForCallbacks messages one more is refused (ErrOverLimit), so
// that no flood of them grows the invoice's changelog record past NATS's message size
// (the shard stopped at that invoice for good). Of the flood on a paid invoice, only the
// first maxOtherTransactions raise a double-payment review.
func TestVerifiedCallbacksCannotGrowAnInvoiceWithoutBound(t *testing.T) {
	cur := mustApply(t, nil, created(), callback(MsgSuccess, "tx-real", nil))
	reviews := 0
	for i := len(cur.Applied); i < MaxMessagesForCallbacks; i++ {
		// the longest ids the ingest takes: a 64-character transaction id, a 32-character code
		tx := fmt.Sprintf("%064d", i)
		m := callback(MsgSuccess, tx, nil)
		m.ID = "cb:" + testInvoice + ":" + tx + ":" + strings.Repeat("c", 32)
		next, events, err := Apply(cur, m, t0)
		if err != nil {
			t.Fatalf("verified callback %d: %v", i, err)
		}
		reviews += len(events)
		cur = &next
	}
	if cur.State != StatePaid || cur.TransactionID != "tx-real" || len(cur.Applied) != MaxMessagesForCallbacks {
		t.Fatalf("after the flood: %s with %s, %d applied", cur.State, cur.TransactionID, len(cur.Applied))
	}
	if reviews != maxOtherTransactions || len(cur.OtherTransactions) != maxOtherTransactions {
		t.Fatalf("%d review events, %d other transactions; want %d of each", reviews, len(cur.OtherTransactions), maxOtherTransactions)
	}
	_, _, err := Apply(cur, callback(MsgSuccess, "tx-one-more", nil), t0)
	if !errors.Is(err, ErrOverLimit) || errors.Is(err, ErrInvalid) {
		t.Fatalf("one verified callback more: %v, want ErrOverLimit", err)
	}
	if _, _, err := Apply(cur, callback(MsgSuccess, "tx-real", nil), t0); !errors.Is(err, ErrDuplicate) {
		t.Fatalf("the real callback again: %v, want ErrDuplicate (a retry of ePay's is no error)", err)
	}
	if _, _, err := Apply(cur, status("100", "CHARGE", 10000), t0); err != nil {
		t.Fatalf("a status answer after the flood: %v, want applied (only callbacks are bound)", err)
	}
	b, err := json.Marshal(cur)
	if err != nil || len(b) > natsMaxMessage/3 {
		t.Fatalf("the invoice at the bound is %d bytes of JSON, want under %d, a third of NATS's bound (%v)", len(b), natsMaxMessage/3, err)
	}
}

// natsMaxMessage is natsbus.MaxMessageSize (EPAY_STATE's, and every stream's, bound).
const natsMaxMessage = 256 << 10

// Past the bound, a callback that moves the invoice is still taken: a buyer who made
// their invoice failed with a verified failure, then flooded it, must not keep ePay's
// real success out (a failed invoice is not asked about again). Only callbacks that
// would add to its history alone are refused.
func TestPastTheBoundACallbackThatMovesTheInvoiceIsTaken(t *testing.T) {
	cur := mustApply(t, nil, created(), callback(MsgFailure, "tx-fail", nil))
	if cur.State != StateFailed {
		t.Fatalf("setup: %s", cur.State)
	}
	for i := len(cur.Applied); i < MaxMessagesForCallbacks; i++ {
		cur = mustApply(t, cur, callback(MsgFailure, fmt.Sprintf("tx-flood-%d", i), nil))
	}
	if _, _, err := Apply(cur, callback(MsgFailure, "tx-flood-more", nil), t0); !errors.Is(err, ErrOverLimit) {
		t.Fatalf("one failure more: %v, want ErrOverLimit", err)
	}
	got, events, err := Apply(cur, callback(MsgSuccess, "tx-real", nil), t0)
	if err != nil || got.State != StatePaid || got.TransactionID != "tx-real" || len(events) != 1 || events[0].Type != EventPaid {
		t.Fatalf("ePay's real success after the flood: %s with %s, %v, %v; want paid with tx-real", got.State, got.TransactionID, events, err)
	}
}
