package sandbox

import "github.com/epayflow/epayflow/internal/epaytest"

// The sandbox's transactions and the callbacks that tell them: epaytest renders the
// bodies, in the shapes of ePay's samples.

// callback is what the callback of t tells: the failure shape for a REJECT and for ePay's
// NOT FINAL outcome (its reported code, 454, though the money was taken), the success
// shape otherwise.
func (t *txn) callback() epaytest.Transaction {
	c := epaytest.Transaction{
		ID: t.id, InvoiceID: t.invoiceID, InvoiceIDAlt: t.invoiceIDAlt, Terminal: t.terminal,
		Currency: t.currency, Amount: t.amount, Card: t.card, Holder: t.holder,
		ApprovalCode: t.approvalCode, Reference: t.reference, AccountID: t.accountID,
		Description: t.description, Language: t.language, Email: t.email, Phone: t.phone,
		IP: t.ip, Created: t.created,
	}
	if t.reportedFailure() {
		c.ReasonCode = t.callbackCode()
	}
	return c
}

// paid is the one-step card payment a callback c tells: CHARGE for the whole amount when
// it was approved, REJECT with its reason code otherwise.
func paid(c epaytest.Transaction) txn {
	t := txn{
		id: c.ID, invoiceID: c.InvoiceID, invoiceIDAlt: c.InvoiceIDAlt, mode: "pay",
		terminal: c.Terminal, currency: c.Currency, amount: c.Amount, status: statusReject,
		reasonCode: c.ReasonCode, card: c.Card, holder: c.Holder, approvalCode: c.ApprovalCode,
		reference: c.Reference, accountID: c.AccountID, description: c.Description,
		language: c.Language, email: c.Email, phone: c.Phone, ip: c.IP, created: c.Created,
	}
	if c.ReasonCode == 0 {
		t.status, t.charged = statusCharge, t.amount
	}
	return t
}
