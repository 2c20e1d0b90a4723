package invoice

import "github.com/epayflow/epayflow/internal/jsonw"

// The worker encodes an invoice and its events for every message it applies (the file,
// the changelog, the outbox), so they are written without reflection: jsonw, held to
// json.Marshal byte for byte by encode_test.go.

// AppendJSON appends the invoice as json.Marshal writes it.
func (inv *Invoice) AppendJSON(b []byte) ([]byte, error) {
	o := jsonw.Start(b)
	inv.WriteJSON(&o)
	return o.End()
}

// WriteJSON writes the invoice's members, in the order of its fields.
func (inv *Invoice) WriteJSON(o *jsonw.Object) {
	o.String("invoiceId", inv.InvoiceID)
	o.String("state", string(inv.State))
	o.StringOmitEmpty("kind", inv.Kind)
	jsonw.Appended(o, "amount", inv.Amount)
	o.StringOmitEmpty("currency", inv.Currency)
	o.StringOmitEmpty("terminal", inv.Terminal)
	o.StringOmitEmpty("description", inv.Description)
	o.StringOmitEmpty("accountId", inv.AccountID)
	o.StringOmitEmpty("orderId", inv.OrderID)
	o.StringMapOmitEmpty("metadata", inv.Metadata)
	o.StringOmitEmpty("transactionId", inv.TransactionID)
	o.Int("reasonCode", int64(inv.ReasonCode))
	o.StringOmitEmpty("reason", inv.Reason)
	o.StringOmitEmpty("reviewReason", inv.ReviewReason)
	o.StringOmitEmpty("cardMask", inv.CardMask)
	o.BoolOmitEmpty("doublePayment", inv.DoublePayment)
	o.StringsOmitEmpty("otherTransactionIds", inv.OtherTransactions)
	o.TimeOmitZero("createdAt", inv.CreatedAt)
	o.Time("updatedAt", inv.UpdatedAt)
	o.TimeOmitZero("paidAt", inv.PaidAt)
	o.Int("version", inv.Version)
	o.StringsOmitEmpty("applied", inv.Applied)
	if len(inv.Pending) > 0 {
		o.Value("pending", inv.Pending)
	}
	o.StringOmitEmpty("confirmation", inv.Confirmation)
	if inv.ConfirmClaim != nil {
		o.Value("confirmClaim", inv.ConfirmClaim)
	}
	o.TimeOmitZero("confirmSince", inv.ConfirmSince)
	o.IntOmitEmpty("statusChecks", int64(inv.StatusChecks))
	o.StringOmitEmpty("lastStatus", inv.LastStatus)
	o.TimeOmitZero("lastStatusAt", inv.LastStatusAt)
	if inv.Resolution != nil {
		o.Value("resolution", inv.Resolution)
	}
	if len(inv.Operations) > 0 {
		o.Value("operations", inv.Operations)
	}
	jsonw.AppendedOmitEmpty(o, "refunded", inv.Refunded)
	jsonw.AppendedOmitEmpty(o, "charged", inv.Charged)
	o.BoolOmitEmpty("cancelled", inv.Cancelled)
}

// AppendJSON appends the event as json.Marshal writes it.
func (e *Event) AppendJSON(b []byte) ([]byte, error) {
	o := jsonw.Start(b)
	o.String("id", e.ID)
	o.String("type", string(e.Type))
	o.String("invoiceId", e.InvoiceID)
	o.Time("time", e.Time)
	o.StringOmitEmpty("reason", e.Reason)
	in := o.Object("invoice")
	e.Invoice.WriteJSON(&in)
	o.Close(&in)
	o.RawOmitEmpty("callback", e.Callback)
	if e.Resolution != nil {
		o.Value("resolution", e.Resolution)
	}
	if e.Operation != nil {
		o.Value("operation", e.Operation)
	}
	return o.End()
}

// AppendJSON appends the invoice.created body as json.Marshal writes it.
func (c *Created) AppendJSON(b []byte) ([]byte, error) {
	o := jsonw.Start(b)
	o.String("invoiceId", c.InvoiceID)
	o.String("kind", c.Kind)
	jsonw.Appended(&o, "amount", c.Amount)
	o.String("currency", c.Currency)
	o.String("terminal", c.Terminal)
	o.StringOmitEmpty("description", c.Description)
	o.StringOmitEmpty("accountId", c.AccountID)
	o.StringOmitEmpty("orderId", c.OrderID)
	o.StringMapOmitEmpty("metadata", c.Metadata)
	o.Time("createdAt", c.CreatedAt)
	return o.End()
}
