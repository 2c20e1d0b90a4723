package epay

// The decoder as first written, on encoding/json's Decoder.Token: slow but plainly right.
// FuzzDecodeCallback checks that DecodeCallback agrees with it on every input.

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
)

// referenceField binds a JSON key to where its value goes.
type referenceField struct {
	str *string
	num *int
	flt *float64
	amt *Amount
}

func (c *Callback) referenceFields() map[string]referenceField {
	return map[string]referenceField{
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
		// ePay's second spellings (its token request and API answers), read into the same fields.
		"invoiceID": {str: &c.InvoiceID}, "cardID": {str: &c.CardID}, "accountID": {str: &c.AccountID},
	}
}

// referenceLenient are the descriptive fields: a value of another type leaves them empty
// instead of refusing the callback.
var referenceLenient = map[string]bool{
	"secure3D": true, "secureDetails": true, "issuer": true, "ip": true, "ipCity": true, "ipCountry": true,
	"ipDistrict": true, "ipRegion": true, "ipLatitude": true, "ipLongitude": true,
}

func referenceDecodeCallback(raw []byte) (*Callback, error) {
	c := &Callback{Raw: raw}
	fields := c.referenceFields()
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
			for k := range fields {
				if strings.EqualFold(key, k) {
					return nil, fmt.Errorf("%w: %q", ErrCaseVariantKey, truncate(key))
				}
			}
			if c.Extra == nil {
				c.Extra = make(map[string]json.RawMessage)
			}
			c.Extra[key] = val
			continue
		}
		if err := f.set(val); err != nil && !referenceLenient[key] {
			return nil, fmt.Errorf("%w: %s: %v", ErrFieldType, key, err)
		}
	}
	if _, err := dec.Token(); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrNotJSONObject, err)
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, fmt.Errorf("%w: data after the object", ErrNotJSONObject)
	}
	for _, pair := range [][2]string{{"cardType", "CardType"}, {"invoiceId", "invoiceID"}, {"cardId", "cardID"}, {"accountId", "accountID"}} {
		_, one := seen[pair[0]]
		_, other := seen[pair[1]]
		if one && other {
			return nil, fmt.Errorf("%w: %q and %q", ErrDuplicateKey, pair[0], pair[1])
		}
	}
	return c, nil
}

func (f referenceField) set(val json.RawMessage) error {
	scalar, err := referenceScalarText(val)
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

func referenceScalarText(val json.RawMessage) (string, error) {
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
