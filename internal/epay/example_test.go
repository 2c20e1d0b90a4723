package epay_test

import (
	"errors"
	"fmt"

	"github.com/epayflow/epayflow/internal/epay"
)

func ExampleKeyring_Sign() {
	// EPAY_SECRET_KEYS: key A signs, key B (the previous one) still verifies.
	keys, err := epay.ParseKeyring("A:change-me-to-32-random-bytes-AAA,B:the-previous-key-still-verifies")
	if err != nil {
		fmt.Println(err)
		return
	}
	hash := keys.Sign("67e34d63-102f-4bd1-898e-370781d0074d", "191111111")
	fmt.Println(hash)
	fmt.Println(keys.Verify("67e34d63-102f-4bd1-898e-370781d0074d", "191111111", hash))
	fmt.Println(keys.Verify("67e34d63-102f-4bd1-898e-370781d0074d", "191111112", hash))
	// Output:
	// A4JDZS7V7IEKRNU7TQ52SST2V
	// <nil>
	// secret_hash does not match
}

func ExampleDecodeCallback() {
	body := []byte(`{"id":"1d1a11f1-1111-111c-1113b-e8340ce51111","invoiceId":"191111111",` +
		`"amount":"12.5","code":"error","reasonCode":"-498","secure":true,"bonusPoints":3}`)
	c, err := epay.DecodeCallback(body)
	if err != nil {
		fmt.Println(err)
		return
	}
	if err := c.Validate(); err != nil {
		fmt.Println(err)
		return
	}
	reason, known := epay.Reason(c.ReasonCode)
	fmt.Println(c.InvoiceID, c.Amount, c.Succeeded(), c.Secure)
	fmt.Println(c.ReasonCode, reason.EN, known)
	fmt.Println(string(c.Extra["bonusPoints"]))

	_, err = epay.DecodeCallback([]byte(`{"id":"1","id":"2"}`))
	fmt.Println(errors.Is(err, epay.ErrDuplicateKey))
	// Output:
	// 191111111 12.5 false true
	// -498 ePay reason code -498 false
	// 3
	// true
}
