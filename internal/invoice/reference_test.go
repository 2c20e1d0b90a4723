package invoice

import (
	"maps"
	"testing"
)

// The merchant's orderId and metadata come with invoice.created and stay on the invoice
// through every later message, whether invoice.created came first or after a callback,
// so every event carries them.
func TestOrderIDAndMetadataStayOnTheInvoiceAndInItsEvents(t *testing.T) {
	md := map[string]string{"cart": "c-9"}
	withRefs := created()
	withRefs.Created.OrderID, withRefs.Created.Metadata = "ORD-42", md
	success := callback(MsgSuccess, "tx-1", nil)
	for name, order := range map[string][]Message{
		"created first":    {withRefs, success},
		"callback first":   {success, withRefs},
		"created repeated": {withRefs, withRefs, success},
	} {
		t.Run(name, func(t *testing.T) {
			var cur *Invoice
			var events []Event
			for _, m := range order {
				next, ev, err := Apply(cur, m, t0)
				if err != nil && err != ErrDuplicate {
					t.Fatal(err)
				}
				cur, events = &next, append(events, ev...)
			}
			if cur.State != StatePaid || cur.OrderID != "ORD-42" || !maps.Equal(cur.Metadata, md) {
				t.Fatalf("invoice %+v", cur)
			}
			if len(events) != 1 || events[0].Invoice.OrderID != "ORD-42" || !maps.Equal(events[0].Invoice.Metadata, md) {
				t.Fatalf("events %+v", events)
			}
		})
	}
	withRefs.Created.Metadata["cart"] = "changed later" // the invoice holds its own copy
	next, _, _ := Apply(nil, withRefs, t0)
	withRefs.Created.Metadata["cart"] = "changed again"
	if next.Metadata["cart"] != "changed later" {
		t.Fatalf("the invoice shares the message's map: %v", next.Metadata)
	}
}
