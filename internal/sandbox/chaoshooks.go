package sandbox

import (
	"fmt"

	"github.com/epayflow/epayflow/internal/epay"
	"github.com/epayflow/epayflow/internal/epaytest"
)

// A hook for tests that drive the sandbox without a browser (the chaos test of
// internal/chaos): it records what the card form would, so that the status API tells
// of the transactions whose callbacks the test sends with epaytest.TriggerWithIDs.

// RecordPayment records a card transaction for invoiceID as the card form does after a
// one-step payment: CHARGE for the whole amount when reasonCode is 0, REJECT with that
// reason code otherwise, with the card and fields of epaytest.Trigger's callbacks. currency
// defaults to KZT and terminal to the test terminal. Unlike the card form it records an
// approved transaction for an invoice already paid too (a double payment); the status
// API then answers with the newest transaction only, as for any invoice. It fails when
// txID is not a valid transaction id or is taken.
func (s *Sandbox) RecordPayment(invoiceID string, amount epay.Amount, currency, terminal, txID string, reasonCode int) error {
	c := epaytest.TriggerOptions{InvoiceID: invoiceID, Amount: amount, Currency: currency, Terminal: terminal, Now: s.cfg.Now}.Transaction(reasonCode)
	if _, err := epay.NormalizeCurrency(c.Currency); err != nil {
		return err
	}
	if err := epay.ValidateInvoiceID(invoiceID); err != nil {
		return err
	}
	if err := epay.ValidateTransactionID(txID); err != nil {
		return err
	}
	if amount <= 0 {
		return fmt.Errorf("sandbox: amount %s must be positive", amount)
	}
	c.ID = txID
	t := paid(c)
	st := s.store
	st.mu.Lock()
	defer st.mu.Unlock()
	if _, taken := st.txns[txID]; taken {
		return fmt.Errorf("sandbox: transaction %s is recorded already", txID)
	}
	inv, ok := st.invoices.get(invoiceID)
	if !ok {
		inv = st.putTermsLocked(invoiceTerms{invoiceID: invoiceID, amount: amount, currency: c.Currency, terminal: c.Terminal})
	}
	inv.txns = append(inv.txns, &t)
	st.txns[t.id] = &t
	return nil
}
