package epay

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"
)

// Errors returned by DecodeCallback and Callback.Validate. Each is wrapped with context;
// test for them with errors.Is.
var (
	ErrNotJSONObject = errors.New("callback body is not a JSON object")
	ErrDuplicateKey  = errors.New("callback body repeats a key")
	ErrFieldType     = errors.New("callback field has the wrong type")
)

// Callback is what ePay POSTs to postLink (success) or failurePostLink (failure).
//
// Types drift between ePay endpoints, so every field is decoded tolerantly: strings
// accept numbers and booleans, numbers accept strings, `CardType` and `cardType` are the
// same field. Fields the type does not know are kept in Extra, and Raw is the body
// exactly as received: it is what gets stored and forwarded, never a re-encoding.
type Callback struct {
	ID             string // ePay's transaction id
	InvoiceID      string
	InvoiceIDAlt   string
	Code           string // "ok" on success, "error" on failure
	Reason         string
	ReasonCode     int
	Amount         Amount
	AmountBonus    Amount
	Currency       string
	Terminal       string
	AccountID      string
	Description    string
	Language       string
	DateTime       string // RFC 3339 with nanoseconds and zone, as sent
	ApprovalCode   string
	CardID         string
	CardMask       string
	CardType       string
	Issuer         string
	Reference      string
	IntReference   string
	Secure         string // "yes"/"no" (a boolean elsewhere becomes "true"/"false")
	Secure3D       string
	SecureDetails  string
	TokenRecipient string
	Name           string
	Email          string
	Phone          string
	IP             string
	IPCity         string
	IPCountry      string
	IPDistrict     string
	IPRegion       string
	IPLatitude     float64
	IPLongitude    float64
	SecretHash     string

	// Extra holds every top-level field this type does not know, verbatim.
	Extra map[string]json.RawMessage
	// Raw is the body as received.
	Raw []byte
}

// Succeeded reports whether ePay says the payment went through (code "ok").
func (c *Callback) Succeeded() bool { return strings.EqualFold(c.Code, "ok") }

// Time parses DateTime. It returns the zero time and an error when ePay sent none or
// sent something that is not RFC 3339.
func (c *Callback) Time() (time.Time, error) { return time.Parse(time.RFC3339Nano, c.DateTime) }

// Validate checks what every callback must carry to be routed: a well-formed
// invoiceId and transaction id. Errors wrap ErrInvoiceID or ErrTransactionID.
func (c *Callback) Validate() error {
	return errors.Join(ValidateInvoiceID(c.InvoiceID), ValidateTransactionID(c.ID))
}

// field binds a JSON key to where its value goes.
type field struct {
	str *string
	num *int
	flt *float64
	amt *Amount
}

func (c *Callback) fields() map[string]field {
	return map[string]field{
		"id": {str: &c.ID}, "invoiceId": {str: &c.InvoiceID}, "invoiceIdAlt": {str: &c.InvoiceIDAlt},
		"code": {str: &c.Code}, "reason": {str: &c.Reason}, "reasonCode": {num: &c.ReasonCode},
		"amount": {amt: &c.Amount}, "amountBonus": {amt: &c.AmountBonus}, "currency": {str: &c.Currency},
		"terminal": {str: &c.Terminal}, "accountId": {str: &c.AccountID}, "description": {str: &c.Description},
		"language": {str: &c.Language}, "dateTime": {str: &c.DateTime}, "approvalCode": {str: &c.ApprovalCode},
		"cardId": {str: &c.CardID}, "cardMask": {str: &c.CardMask}, "cardType": {str: &c.CardType},
		"CardType": {str: &c.CardType}, "issuer": {str: &c.Issuer}, "reference": {str: &c.Reference},
		"intReference": {str: &c.IntReference}, "secure": {str: &c.Secure}, "secure3D": {str: &c.Secure3D},
		"secureDetails": {str: &c.SecureDetails}, "tokenRecipient": {str: &c.TokenRecipient},
		"name": {str: &c.Name}, "email": {str: &c.Email}, "phone": {str: &c.Phone}, "ip": {str: &c.IP},
		"ipCity": {str: &c.IPCity}, "ipCountry": {str: &c.IPCountry}, "ipDistrict": {str: &c.IPDistrict},
		"ipRegion": {str: &c.IPRegion}, "ipLatitude": {flt: &c.IPLatitude}, "ipLongitude": {flt: &c.IPLongitude},
		"secret_hash": {str: &c.SecretHash},
	}
}

// DecodeCallback decodes a callback body. It fails on anything that is not a single JSON
// object (ErrNotJSONObject), on a key given twice (ErrDuplicateKey: two readers of the same
// body must never see two different callbacks), and on a known field whose value cannot be
// read as its type (ErrFieldType). It does not check required fields: see Validate.
// The returned Callback keeps raw (not a copy): the caller must not modify it.
func DecodeCallback(raw []byte) (*Callback, error) {
	c := &Callback{Raw: raw}
	fields := c.fields()
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	if tok, err := dec.Token(); err != nil || tok != json.Delim('{') {
		return nil, ErrNotJSONObject
	}
	seen := make(map[string]struct{}, 40)
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return nil, fmt.Errorf("%w: %v", ErrNotJSONObject, err)
		}
		key := tok.(string) // inside an object the decoder only yields string keys
		var val json.RawMessage
		if err := dec.Decode(&val); err != nil {
			return nil, fmt.Errorf("%w: %v", ErrNotJSONObject, err)
		}
		if _, dup := seen[key]; dup {
			return nil, fmt.Errorf("%w: %q", ErrDuplicateKey, truncate(key))
		}
		seen[key] = struct{}{}
		f, known := fields[key]
		if !known {
			if c.Extra == nil {
				c.Extra = make(map[string]json.RawMessage)
			}
			c.Extra[key] = val
			continue
		}
		if err := f.set(val); err != nil {
			return nil, fmt.Errorf("%w: %s: %v", ErrFieldType, key, err)
		}
	}
	if _, err := dec.Token(); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrNotJSONObject, err)
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, fmt.Errorf("%w: data after the object", ErrNotJSONObject)
	}
	if _, both := seen["cardType"]; both {
		if _, alt := seen["CardType"]; alt {
			return nil, fmt.Errorf("%w: %q and %q", ErrDuplicateKey, "cardType", "CardType")
		}
	}
	return c, nil
}

func (f field) set(val json.RawMessage) error {
	scalar, err := scalarText(val)
	if err != nil {
		return err
	}
	switch {
	case f.str != nil:
		*f.str = scalar
	case scalar == "":
		// null or "" leaves a number at zero
	case f.num != nil:
		n, err := strconv.Atoi(scalar)
		if err != nil {
			return fmt.Errorf("%q is not an integer", truncate(scalar))
		}
		*f.num = n
	case f.flt != nil:
		x, err := strconv.ParseFloat(scalar, 64)
		if err != nil {
			return fmt.Errorf("%q is not a number", truncate(scalar))
		}
		*f.flt = x
	case f.amt != nil:
		a, err := ParseAmount(scalar)
		if err != nil {
			return err
		}
		*f.amt = a
	}
	return nil
}

// scalarText returns a JSON scalar as text: a string's content, a number's literal,
// "true"/"false", and "" for null. Objects and arrays are an error.
func scalarText(val json.RawMessage) (string, error) {
	if len(val) == 0 {
		return "", nil
	}
	switch val[0] {
	case '"':
		var s string
		if err := json.Unmarshal(val, &s); err != nil {
			return "", err
		}
		return strings.TrimSpace(s), nil
	case 'n':
		return "", nil
	case '{', '[':
		return "", errors.New("an object or array where a scalar belongs")
	default: // number, true, false
		return string(val), nil
	}
}
