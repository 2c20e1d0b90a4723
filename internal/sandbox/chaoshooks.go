package sandbox

import (
	"context"
	"fmt"

	"github.com/epayflow/epayflow/internal/epay"
)

// Hooks for tests that drive the sandbox without a browser (the chaos test of
// internal/chaos): they record what the card form would, and send the callbacks of
// Trigger with transaction ids the caller chose, so that the status API and the
// callbacks tell of the same transactions.

// RecordPayment records a card transaction for invoiceID as the card form does after a
// one-step payment: CHARGE for the whole amount when reasonCode is 0, REJECT with that
// reason code otherwise, with the card and fields of Trigger's callbacks. currency
// defaults to KZT and terminal to the test terminal. Unlike the card form it records an
// approved transaction for an invoice already paid too (a double payment); the status
// API then answers with the newest transaction only, as for any invoice. It fails when
// txID is not a valid transaction id or is taken.
func (s *Sandbox) RecordPayment(invoiceID string, amount epay.Amount, currency, terminal, txID string, reasonCode int) error {
	o := TriggerOptions{InvoiceID: invoiceID, Amount: amount, Currency: currency, Terminal: terminal, Now: s.cfg.Now}.withDefaults()
	cur, err := epay.NormalizeCurrency(o.Currency)
	if err != nil {
		return err
	}
	o.Currency = cur
	if err := epay.ValidateInvoiceID(invoiceID); err != nil {
		return err
	}
	if err := epay.ValidateTransactionID(txID); err != nil {
		return err
	}
	if amount <= 0 {
		return fmt.Errorf("sandbox: amount %s must be positive", amount)
	}
	t := o.txn(reasonCode)
	t.id = txID
	st := s.store
	st.mu.Lock()
	defer st.mu.Unlock()
	if _, taken := st.txns[txID]; taken {
		return fmt.Errorf("sandbox: transaction %s is recorded already", txID)
	}
	inv, ok := st.invoices.get(invoiceID)
	if !ok {
		inv = st.putTermsLocked(invoiceTerms{invoiceID: invoiceID, amount: amount, currency: o.Currency, terminal: o.Terminal})
	}
	inv.txns = append(inv.txns, &t)
	st.txns[t.id] = &t
	return nil
}

// TriggerWithIDs is Trigger with the transaction ids of its callbacks given: ids[0] is
// the first transaction (with OutOfOrder, the failure), ids[1] the success after it.
// Each id must be valid, and there must be exactly as many as Trigger makes
// transactions (two with OutOfOrder, else one).
func TriggerWithIDs(ctx context.Context, opts TriggerOptions, ids ...string) (TriggerResult, error) {
	if err := opts.Validate(); err != nil {
		return TriggerResult{}, err
	}
	o := opts.withDefaults()
	want := 1
	if o.OutOfOrder {
		want = 2
	}
	if len(ids) != want {
		return TriggerResult{}, fmt.Errorf("%w: %d transaction ids, want %d", ErrTriggerOptions, len(ids), want)
	}
	for _, id := range ids {
		if err := epay.ValidateTransactionID(id); err != nil {
			return TriggerResult{}, fmt.Errorf("%w: %v", ErrTriggerOptions, err)
		}
	}
	cur, _ := epay.NormalizeCurrency(o.Currency)
	o.Currency = cur
	hash := o.Keys.Sign(o.Terminal, o.InvoiceID)
	if o.WrongHash {
		hash = spoil(hash)
	}
	var plan []txn
	if o.OutOfOrder {
		plan = append(plan, o.txn(o.ReasonCode))
	}
	if o.Kind == KindSuccess {
		plan = append(plan, o.txn(0))
	} else {
		plan = append(plan, o.txn(o.ReasonCode))
	}
	for i := range plan {
		plan[i].id = ids[i]
	}
	res := TriggerResult{InvoiceID: o.InvoiceID}
	for _, t := range plan {
		body := callbackBody(t, hash)
		p := TriggerPost{Kind: KindSuccess, URL: o.URL, TransactionID: t.id, Want200: !o.WrongHash}
		if t.reportedFailure() {
			p.Kind, p.URL = KindFailure, o.FailureURL
		}
		for range o.Duplicates {
			if err := ctx.Err(); err != nil {
				return res, err
			}
			res.Posts = append(res.Posts, send(ctx, o.Client, p, body))
		}
	}
	return res, nil
}
