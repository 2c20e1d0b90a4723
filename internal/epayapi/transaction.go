package epayapi

import (
	"encoding/json"
	"fmt"

	"github.com/epayflow/epayflow/internal/epay"
)

// Transaction is the transaction object of a status answer. Types drift between ePay
// endpoints, so it is read tolerantly: secure may be a boolean or "yes"/"no",
// reasonCode a number or a string, amounts numbers or strings, and ids arrive as
// invoiceID or invoiceId. Raw is the object as received.
type Transaction struct {
	ID            string
	InvoiceID     string
	StatusName    string
	StatusID      string
	CreatedDate   string
	Amount        epay.Amount
	AmountBonus   epay.Amount
	Currency      string
	Terminal      string
	AccountID     string
	Description   string
	Language      string
	CardMask      string
	CardType      string
	CardID        string
	Issuer        string
	Reference     string
	IntReference  string
	ApprovalCode  string
	Reason        string
	ReasonCode    int
	Secure        bool
	SecureDetails string
	Name          string
	Email         string
	Phone         string
	Raw           json.RawMessage
}

type txField struct {
	str  *string
	amt  *epay.Amount
	num  *int
	flag *bool
}

func (t *Transaction) fields() map[string]txField {
	return map[string]txField{
		"id": {str: &t.ID}, "invoiceID": {str: &t.InvoiceID}, "invoiceId": {str: &t.InvoiceID},
		"statusName": {str: &t.StatusName}, "statusID": {str: &t.StatusID}, "createdDate": {str: &t.CreatedDate},
		"amount": {amt: &t.Amount}, "amountBonus": {amt: &t.AmountBonus}, "currency": {str: &t.Currency},
		"terminal": {str: &t.Terminal}, "terminalID": {str: &t.Terminal}, "accountID": {str: &t.AccountID},
		"accountId": {str: &t.AccountID}, "description": {str: &t.Description}, "language": {str: &t.Language},
		"cardMask": {str: &t.CardMask}, "cardType": {str: &t.CardType}, "CardType": {str: &t.CardType},
		"cardID": {str: &t.CardID}, "cardId": {str: &t.CardID}, "issuer": {str: &t.Issuer},
		"reference": {str: &t.Reference}, "intReference": {str: &t.IntReference},
		"approvalCode": {str: &t.ApprovalCode}, "reason": {str: &t.Reason}, "reasonCode": {num: &t.ReasonCode},
		"secure": {flag: &t.Secure}, "secureDetails": {str: &t.SecureDetails}, "name": {str: &t.Name},
		"email": {str: &t.Email}, "phone": {str: &t.Phone},
	}
}

// UnmarshalJSON reads a transaction object tolerantly; a known field that cannot be
// read as its type is an error naming the field (never its value's secrets: ePay sends
// none here).
func (t *Transaction) UnmarshalJSON(b []byte) error {
	var obj map[string]json.RawMessage
	if err := json.Unmarshal(b, &obj); err != nil {
		return fmt.Errorf("transaction: %w", err)
	}
	*t = Transaction{Raw: append(json.RawMessage(nil), b...)}
	fields := t.fields()
	for key, val := range obj {
		f, ok := fields[key]
		if !ok {
			continue
		}
		if err := f.set(val); err != nil {
			return fmt.Errorf("transaction.%s: %w", key, err)
		}
	}
	return nil
}

func (f txField) set(val json.RawMessage) error {
	switch {
	case f.str != nil:
		s, err := scalarText(val)
		*f.str = s
		return err
	case f.flag != nil:
		b, err := flexBool(val)
		*f.flag = b
		return err
	case f.num != nil:
		n, err := flexInt(val)
		*f.num = int(n)
		return err
	}
	s, err := scalarText(val)
	if err != nil || s == "" {
		return err
	}
	a, err := epay.ParseAmount(s)
	*f.amt = a
	return err
}
