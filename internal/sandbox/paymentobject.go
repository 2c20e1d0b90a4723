package sandbox

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	"github.com/epayflow/epayflow/internal/epay"
)

// ErrPaymentObject is wrapped by every error about the object given to halyk.pay and
// friends; the form shows it on its error page.
var ErrPaymentObject = errors.New("payment object")

// paymentObject is what the page passed to halyk.pay / halyk.p2p / halyk.oct.
type paymentObject struct {
	invoiceID, invoiceIDAlt   string
	backLink, failureBackLink string
	postLink, failurePostLink string
	language, description     string
	accountID, terminal       string
	currency, phone, email    string
	name                      string
	amount                    epay.Amount
	accessToken               string
}

func badObject(format string, a ...any) error {
	return fmt.Errorf("%w: "+format, append([]any{ErrPaymentObject}, a...)...)
}

// parsePaymentObject reads the JSON the script posted, with the browser-side rules
// checked again: auth.access_token present, invoiceId 6 to 15 digits, amount a positive
// JSON number, cardSave a boolean when given.
func parsePaymentObject(b []byte) (*paymentObject, error) {
	var m map[string]json.RawMessage
	if err := json.Unmarshal(b, &m); err != nil || m == nil {
		return nil, badObject("not a JSON object")
	}
	var auth map[string]json.RawMessage
	if err := json.Unmarshal(m["auth"], &auth); err != nil || auth == nil {
		return nil, badObject("auth is missing: pass the whole token response")
	}
	o := &paymentObject{}
	strs := map[string]*string{
		"invoiceId": &o.invoiceID, "invoiceIdAlt": &o.invoiceIDAlt, "backLink": &o.backLink,
		"failureBackLink": &o.failureBackLink, "postLink": &o.postLink, "failurePostLink": &o.failurePostLink,
		"language": &o.language, "description": &o.description, "accountId": &o.accountID,
		"terminal": &o.terminal, "currency": &o.currency, "phone": &o.phone, "email": &o.email, "name": &o.name,
	}
	for k, dst := range strs {
		v, err := scalar(m[k])
		if err != nil {
			return nil, badObject("%s: %v", k, err)
		}
		*dst = v
	}
	tok, err := scalar(auth["access_token"])
	if err != nil || tok == "" {
		return nil, badObject("auth.access_token is missing")
	}
	o.accessToken = tok
	if err := epay.ValidateInvoiceID(o.invoiceID); err != nil {
		return nil, badObject("invoiceId: %v", err)
	}
	if o.amount, err = objectAmount(m["amount"]); err != nil {
		return nil, err
	}
	if cs, ok := m["cardSave"]; ok && !isJSON(cs, "null") && !isJSON(cs, "true") && !isJSON(cs, "false") {
		return nil, badObject("cardSave must be a boolean")
	}
	return o, nil
}

func objectAmount(raw json.RawMessage) (epay.Amount, error) {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 || !(raw[0] >= '0' && raw[0] <= '9' || raw[0] == '-') {
		return 0, badObject("amount must be a number")
	}
	a, err := epay.ParseAmount(string(raw))
	if err != nil || a <= 0 {
		return 0, badObject("amount %s is not a positive amount with at most two decimals", truncate(string(raw)))
	}
	return a, nil
}

// scalar reads a string, number or null as text; objects, arrays and booleans are refused.
func scalar(raw json.RawMessage) (string, error) {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 || isJSON(raw, "null") {
		return "", nil
	}
	switch raw[0] {
	case '"':
		var s string
		if err := json.Unmarshal(raw, &s); err != nil {
			return "", err
		}
		return strings.TrimSpace(s), nil
	case '{', '[', 't', 'f':
		return "", errors.New("must be a string")
	}
	return string(raw), nil
}

func isJSON(raw json.RawMessage, lit string) bool { return string(bytes.TrimSpace(raw)) == lit }
