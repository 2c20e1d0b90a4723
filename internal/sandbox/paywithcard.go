package sandbox

import (
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"regexp"
)

// Card is what a customer types into the sandbox's card form.
type Card struct{ Number, Expiry, CVC, Holder string }

// TestCard is ePay's published test card that pays (docs/SANDBOX.md).
var TestCard = Card{Number: "4405639704015096", Expiry: "01/27", CVC: "321", Holder: "Test Holder"}

var sessionField = regexp.MustCompile(`name="session" value="([^"]+)"`)

// PayWithCard does what payment-api.js and a customer do with a payment object: opens the
// sandbox's card form at baseURL and submits card. The client must not follow redirects
// (the form answers 303 back to the shop). The error says what the sandbox answered.
func PayWithCard(client *http.Client, baseURL string, paymentObject []byte, card Card) error {
	resp, err := client.PostForm(baseURL+"/payform", url.Values{"payment": {string(paymentObject)}, "mode": {"pay"}})
	if err != nil {
		return err
	}
	page, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	resp.Body.Close()
	m := sessionField.FindSubmatch(page)
	if m == nil {
		return fmt.Errorf("the card form: %d %s", resp.StatusCode, page)
	}
	resp, err = client.PostForm(baseURL+"/payform/card", url.Values{"session": {string(m[1])}, "card-number": {card.Number},
		"card-expiry": {card.Expiry}, "card-cvc": {card.CVC}, "card-holder": {card.Holder}})
	if err != nil {
		return err
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusSeeOther {
		return errors.New("card submitted: " + resp.Status + ", want the 303 back to the shop")
	}
	return nil
}
