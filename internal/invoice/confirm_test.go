package invoice

import (
	"errors"
	"testing"
	"time"
)

// cell is the expected outcome of one (state, message) pair of the confirmation columns.
type cell struct {
	state   State
	events  []EventType
	reason  string
	err     error
	pending bool
}

// confirmationCases are the table's cells for confirmation: the "confirming" row (a
// created invoice whose success callback waits for the status API) over every message,
// and the confirm and status columns of every other row.
func confirmationCases(paid, failed, review []EventType) map[string]map[string]cell {
	return map[string]map[string]cell{
		"unknown": {
			"success confirm": {state: StateUnmatched}, "success unverified confirm": {state: StateUnmatched},
			"success amount confirm": {state: StateUnmatched},
			"status paid":            {err: ErrInvalid}, "status paid amount": {err: ErrInvalid},
			"status rejected": {err: ErrInvalid}, "status not found": {err: ErrInvalid},
		},
		"unmatched": { // status answers are history only until invoice.created
			"success confirm": {state: StateUnmatched}, "success unverified confirm": {state: StateUnmatched},
			"success amount confirm": {state: StateUnmatched},
			"status paid":            {state: StateUnmatched}, "status paid amount": {state: StateUnmatched},
			"status rejected": {state: StateUnmatched}, "status not found": {state: StateUnmatched},
		},
		"created": {
			"success confirm":            {state: StateCreated, pending: true},
			"success unverified confirm": {state: StateCreated, pending: true},
			"success amount confirm":     {state: StateReview, events: review, reason: "amount 99.99"},
			"status paid":                {state: StatePaid, events: paid},
			"status paid amount":         {state: StateReview, events: review, reason: "status 100 CHARGE: mismatch: amount 50"},
			"status rejected":            {state: StateFailed, events: failed},
			"status not found":           {state: StateCreated},
		},
		"confirming": {
			"created":         {state: StateCreated, err: ErrDuplicate, pending: true},
			"success":         {state: StatePaid, events: paid}, // verified, confirmation off for it
			"success same tx": {state: StatePaid, events: paid},
			"success amount":  {state: StateReview, events: review, reason: "amount"}, "success currency": {state: StateReview, events: review, reason: "currency"},
			"success terminal":           {state: StateReview, events: review, reason: "terminal"},
			"success unverified":         {state: StateCreated, pending: true}, // history only; the claim still waits
			"failure":                    {state: StateCreated, pending: true}, // history only: the claim decides
			"success confirm":            {state: StateCreated, pending: true},
			"success unverified confirm": {state: StateCreated, pending: true},
			"success amount confirm":     {state: StateReview, events: review, reason: "amount"},
			"status paid":                {state: StatePaid, events: paid},
			"status paid amount":         {state: StateReview, events: review, reason: "mismatch: amount"},
			"status rejected":            {state: StateReview, events: review, reason: "not confirmed: ePay status says 101 REJECT"},
			"status not found":           {state: StateCreated, pending: true}, // ePay may not have indexed it yet: asked again
			"duplicate":                  {state: StateCreated, err: ErrDuplicate, pending: true},
		},
		"paid": { // never leaves paid
			"success confirm":            {state: StatePaid, events: review, reason: "double payment"},
			"success unverified confirm": {state: StatePaid},
			"success amount confirm":     {state: StatePaid, events: review, reason: "double payment"},
			"status paid":                {state: StatePaid}, "status paid amount": {state: StatePaid},
			"status rejected": {state: StatePaid}, "status not found": {state: StatePaid},
		},
		"failed": { // the customer may retry; the status API decides
			"success confirm":            {state: StateFailed, pending: true},
			"success unverified confirm": {state: StateFailed, pending: true},
			"success amount confirm":     {state: StateReview, events: review, reason: "amount"},
			"status paid":                {state: StatePaid, events: paid},
			"status paid amount":         {state: StateReview, events: review, reason: "amount"},
			"status rejected":            {state: StateFailed}, "status not found": {state: StateFailed},
		},
		"review": {
			"success confirm":            {state: StateReview, pending: true},
			"success unverified confirm": {state: StateReview, pending: true},
			"success amount confirm":     {state: StateReview},
			"status paid":                {state: StatePaid, events: paid},
			"status paid amount":         {state: StateReview},
			"status rejected":            {state: StateReview}, "status not found": {state: StateReview},
		},
	}
}

func TestConfirmedClaimIsPaidWithTheCallbackItConfirmed(t *testing.T) {
	claim := callback(MsgSuccess, "tx-claim", func(p *Payment) { p.Confirm, p.DateTime = true, "2024-07-29T10:00:05Z" })
	cur := mustApply(t, nil, created(), claim)
	if cur.State != StateCreated || cur.ConfirmClaim == nil || !cur.ConfirmSince.Equal(t0) {
		t.Fatalf("after the claim: %+v", cur)
	}
	st := status("100", "CHARGE", 10000)
	st.Status.TransactionID = "tx-claim"
	got, events, err := Apply(cur, st, t0.Add(time.Minute))
	if err != nil {
		t.Fatal(err)
	}
	if got.State != StatePaid || got.Confirmation != "" || got.ConfirmClaim != nil || got.TransactionID != "tx-claim" ||
		got.CardMask != "440043...2222" || got.StatusChecks != 1 || got.LastStatus != "100 CHARGE" {
		t.Fatalf("after the status: %+v", got)
	}
	if !got.PaidAt.Equal(time.Date(2024, 7, 29, 10, 0, 5, 0, time.UTC)) {
		t.Errorf("paidAt = %s, want the callback's dateTime", got.PaidAt)
	}
	if len(events) != 1 || string(events[0].Callback) != string(claim.Payment.Raw) || events[0].Invoice.ConfirmClaim != nil {
		t.Fatalf("events = %+v, want one paid event carrying the confirmed callback", events)
	}
}

func TestStatusMessagesAreValidated(t *testing.T) {
	cur := mustApply(t, nil, created())
	for name, edit := range map[string]func(*Status){
		"no result code": func(s *Status) { s.ResultCode = "" },
		"no check":       func(s *Status) { s.Check = 0 },
		"bad purpose":    func(s *Status) { s.Purpose = "curiosity" },
	} {
		m := status("100", "CHARGE", 10000)
		edit(m.Status)
		if _, _, err := Apply(cur, m, t0); !errors.Is(err, ErrInvalid) {
			t.Errorf("%s: %v, want ErrInvalid", name, err)
		}
	}
	m := status("100", "CHARGE", 10000)
	m.Status = nil
	if _, _, err := Apply(cur, m, t0); !errors.Is(err, ErrInvalid) {
		t.Errorf("no body: %v, want ErrInvalid", err)
	}
}
