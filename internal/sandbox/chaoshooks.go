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
	if ids == nil {
		ids = []string{}
	}
	return trigger(ctx, opts, ids)
}
