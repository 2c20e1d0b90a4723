package events

import "github.com/epayflow/epayflow/internal/jsonw"

// The worker's relay encodes a CloudEvent for every event it publishes, so it is written
// without reflection (jsonw), held to json.Marshal byte for byte by encode_test.go.

// AppendJSON appends the event as json.Marshal writes it.
func (c *CloudEvent) AppendJSON(b []byte) ([]byte, error) {
	o := jsonw.Start(b)
	o.String("specversion", c.SpecVersion)
	o.String("id", c.ID)
	o.String("source", c.Source)
	o.String("type", c.Type)
	o.Time("time", c.Time)
	o.String("subject", c.Subject)
	o.String("datacontenttype", c.DataContentType)
	data := o.Object("data")
	c.Data.writeJSON(&data)
	o.Close(&data)
	return o.End()
}

func (d *Data) writeJSON(o *jsonw.Object) {
	inv := o.Object("invoice")
	d.Invoice.writeJSON(&inv)
	o.Close(&inv)
	o.StringOmitEmpty("reason", d.Reason)
	o.RawOmitEmpty("callback", d.Callback)
	if d.Resolution != nil {
		o.Value("resolution", d.Resolution)
	}
	if d.Operation != nil {
		o.Value("operation", d.Operation)
	}
}

func (v *View) writeJSON(o *jsonw.Object) {
	o.String("invoiceId", v.InvoiceID)
	o.String("state", string(v.State))
	o.StringOmitEmpty("kind", v.Kind)
	jsonw.Appended(o, "amount", v.Amount)
	o.StringOmitEmpty("currency", v.Currency)
	o.StringOmitEmpty("terminal", v.Terminal)
	o.StringOmitEmpty("description", v.Description)
	o.StringOmitEmpty("accountId", v.AccountID)
	o.StringOmitEmpty("orderId", v.OrderID)
	o.StringMapOmitEmpty("metadata", v.Metadata)
	o.StringOmitEmpty("transactionId", v.TransactionID)
	o.Int("reasonCode", int64(v.ReasonCode))
	if v.Reason != nil {
		r := o.Object("reason")
		r.String("en", v.Reason.EN)
		r.String("ru", v.Reason.RU)
		r.String("kk", v.Reason.KK)
		o.Close(&r)
	}
	o.StringOmitEmpty("epayReason", v.EpayReason)
	o.StringOmitEmpty("reviewReason", v.ReviewReason)
	o.BoolOmitEmpty("doublePayment", v.DoublePayment)
	o.StringOmitEmpty("cardMask", v.CardMask)
	o.TimeOmitZero("createdAt", v.CreatedAt)
	o.Time("updatedAt", v.UpdatedAt)
	o.TimeOmitZero("paidAt", v.PaidAt)
	o.Int("version", v.Version)
	o.StringOmitEmpty("confirmation", v.Confirmation)
	o.TimeOmitZero("confirmSince", v.ConfirmSince)
	o.IntOmitEmpty("statusChecks", int64(v.StatusChecks))
	o.StringOmitEmpty("lastStatus", v.LastStatus)
	o.TimeOmitZero("lastStatusAt", v.LastStatusAt)
	if v.Resolution != nil {
		o.Value("resolution", v.Resolution)
	}
	jsonw.AppendedOmitEmpty(o, "refunded", v.Refunded)
	jsonw.AppendedOmitEmpty(o, "charged", v.Charged)
	o.BoolOmitEmpty("cancelled", v.Cancelled)
	if len(v.Operations) > 0 {
		o.Value("operations", v.Operations)
	}
}
