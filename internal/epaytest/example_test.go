package epaytest_test

import (
	"fmt"

	"github.com/epayflow/epayflow/internal/epay"
	"github.com/epayflow/epayflow/internal/epaytest"
)

// A load generator makes the body ePay would POST for a declined payment, signed with
// the receiver's keys, and sends it however it likes.
func ExampleSignedCallback() {
	keys, _ := epay.ParseKeyring("A:example-signing-key-0001")
	_, body := epaytest.SignedCallback(epaytest.TriggerOptions{InvoiceID: "000000100", Amount: 150_00, Keys: keys}, 484)
	cb, _ := epay.DecodeCallback(body)
	fmt.Println(cb.InvoiceID, cb.Amount, cb.Succeeded(), cb.ReasonCode, keys.Verify(cb.Terminal, cb.InvoiceID, cb.SecretHash) == nil)
	// Output: 000000100 150 false 484 true
}
