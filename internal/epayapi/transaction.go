package epayapi

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/epayflow/epayflow/internal/epay"
	"github.com/epayflow/epayflow/internal/jsonscan"
)

// ErrConflictingFields: a status answer spells one field two ways (invoiceID and
// invoiceId, ...) with two different values. It wraps ErrBadResponse: no reading of such
// an answer can be trusted, so it is never guessed at.
var ErrConflictingFields = fmt.Errorf("%w: one field given twice with different values", ErrBadResponse)

// Transaction is the transaction object of a status answer, as ePay documents it
// (epayment.kz docs "check-status-payment" and "check-status-p2p"; the samples are in
// testdata/docs). Types drift between ePay endpoints, so it is read tolerantly: secure
// may be a boolean or "yes"/"no", reasonCode a number or a string, amounts numbers or
// strings. Raw is the object as received.
//
// The decoding rules (fieldSpecs) are the same whatever the order of the keys:
//   - `terminal` and `terminalID` are two different fields. ePay's documented answers
//     carry both: `terminal` is ePay's own processing terminal ("98120001"), `terminalID`
//     the merchant's terminal, the one the token and the invoice use. MerchantTerminal
//     says which of them is compared with an invoice.
//   - `invoiceID`/`invoiceId`, `accountID`/`accountId`, `cardID`/`cardId`,
//     `cardType`/`CardType` and `statusID`/`statusId` are one field each, spelled two
//     ways by ePay's endpoints. Either spelling is read; both with the same value is
//     that value; both with different values is ErrConflictingFields.
//   - `amount` is what the transaction holds now, `orgAmount` the amount it was made
//     for, `payoutAmount` what was paid back (the documented sample: 12.22 + 10 =
//     22.22). OriginalAmount is what is compared with an invoice.
type Transaction struct {
	ID           string
	InvoiceID    string
	StatusName   string
	StatusID     string
	CreatedDate  string
	Amount       epay.Amount // what the transaction holds now (after refunds)
	OrgAmount    epay.Amount // the amount the transaction was made for; 0 when absent
	PayoutAmount epay.Amount // what was paid back
	// HasOrgAmount and HasPayoutAmount: the answer gave orgAmount / payoutAmount (a
	// number); absent or null, what was paid back cannot be told from it.
	HasOrgAmount    bool
	HasPayoutAmount bool
	AmountBonus     epay.Amount
	Currency        string
	// Terminal is ePay's processing terminal (`terminal`, 8 digits in the documented
	// answers); TerminalID the merchant's terminal (`terminalID`).
	Terminal      string
	TerminalID    string
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
	Data          string // `data`: a JSON document in a string, as sent
	Raw           json.RawMessage
}

// OfInvoice says whether the transaction is one of invoiceID, as far as the answer
// tells: its invoiceID is that invoice's (leading zeros aside: a numeric rendering drops
// them), or absent. An answer naming another invoice says nothing of this one, whatever
// its amount: its money is not this invoice's.
func (t *Transaction) OfInvoice(invoiceID string) bool {
	if t.InvoiceID == "" {
		return true
	}
	return strings.TrimLeft(strings.TrimSpace(t.InvoiceID), "0") == strings.TrimLeft(invoiceID, "0")
}

// MerchantTerminal is the terminal an invoice is compared with: terminalID when ePay
// sent it, else terminal (older answers have only that one; where it is ePay's 8-digit
// processing terminal it matches no invoice, and the payment goes to review).
func (t *Transaction) MerchantTerminal() string {
	if t.TerminalID != "" {
		return t.TerminalID
	}
	return t.Terminal
}

// OriginalAmount is the amount the transaction was made for: orgAmount when ePay sent
// one, else amount. A partial refund lowers amount, never orgAmount, so a payment made
// in full still matches its invoice after it.
func (t *Transaction) OriginalAmount() epay.Amount {
	if t.OrgAmount > 0 {
		return t.OrgAmount
	}
	return t.Amount
}

// Refunded reports what ePay says was paid back (RefundedKnown's amount; 0 when the
// answer cannot tell).
func (t *Transaction) Refunded() epay.Amount {
	a, _ := t.RefundedKnown()
	return a
}

// RefundedKnown reports what ePay says was paid back, and whether the answer tells:
// payoutAmount whenever it is given, 0 included; else orgAmount - amount when orgAmount
// is given; else it does not tell (ok false). payoutAmount 0 is never read as the rest
// of orgAmount: after a partial charge of a two-step payment amount is what was
// charged, and the rest of orgAmount was released, not refunded.
func (t *Transaction) RefundedKnown() (epay.Amount, bool) {
	switch {
	case t.HasPayoutAmount:
		return t.PayoutAmount, true
	case t.HasOrgAmount:
		return max(t.OrgAmount-t.Amount, 0), true
	}
	return 0, false
}

type txField struct {
	str  *string
	doc  *string // a JSON document in a string, or (drift) the document itself: its text
	amt  *epay.Amount
	num  *int
	flag *bool
}

// fieldSpec is one field: its spellings, the first the documented one.
type fieldSpec struct {
	keys []string
	get  func(*Transaction) txField
}

// fieldSpecs is walked in this order; the decoding never depends on the order of the
// keys in the answer, nor on Go's map iteration.
var fieldSpecs = []fieldSpec{
	{[]string{"id"}, func(t *Transaction) txField { return txField{str: &t.ID} }},
	{[]string{"invoiceID", "invoiceId"}, func(t *Transaction) txField { return txField{str: &t.InvoiceID} }},
	{[]string{"statusName"}, func(t *Transaction) txField { return txField{str: &t.StatusName} }},
	{[]string{"statusID", "statusId"}, func(t *Transaction) txField { return txField{str: &t.StatusID} }},
	{[]string{"createdDate"}, func(t *Transaction) txField { return txField{str: &t.CreatedDate} }},
	{[]string{"amount"}, func(t *Transaction) txField { return txField{amt: &t.Amount} }},
	{[]string{"orgAmount"}, func(t *Transaction) txField { return txField{amt: &t.OrgAmount} }},
	{[]string{"payoutAmount"}, func(t *Transaction) txField { return txField{amt: &t.PayoutAmount} }},
	{[]string{"amountBonus"}, func(t *Transaction) txField { return txField{amt: &t.AmountBonus} }},
	{[]string{"currency"}, func(t *Transaction) txField { return txField{str: &t.Currency} }},
	{[]string{"terminal"}, func(t *Transaction) txField { return txField{str: &t.Terminal} }},
	{[]string{"terminalID", "terminalId"}, func(t *Transaction) txField { return txField{str: &t.TerminalID} }},
	{[]string{"accountID", "accountId"}, func(t *Transaction) txField { return txField{str: &t.AccountID} }},
	{[]string{"description"}, func(t *Transaction) txField { return txField{str: &t.Description} }},
	{[]string{"language"}, func(t *Transaction) txField { return txField{str: &t.Language} }},
	{[]string{"cardMask"}, func(t *Transaction) txField { return txField{str: &t.CardMask} }},
	{[]string{"cardType", "CardType"}, func(t *Transaction) txField { return txField{str: &t.CardType} }},
	{[]string{"cardID", "cardId"}, func(t *Transaction) txField { return txField{str: &t.CardID} }},
	{[]string{"issuer"}, func(t *Transaction) txField { return txField{str: &t.Issuer} }},
	{[]string{"reference"}, func(t *Transaction) txField { return txField{str: &t.Reference} }},
	{[]string{"intReference"}, func(t *Transaction) txField { return txField{str: &t.IntReference} }},
	{[]string{"approvalCode"}, func(t *Transaction) txField { return txField{str: &t.ApprovalCode} }},
	{[]string{"reason"}, func(t *Transaction) txField { return txField{str: &t.Reason} }},
	{[]string{"reasonCode"}, func(t *Transaction) txField { return txField{num: &t.ReasonCode} }},
	{[]string{"secure"}, func(t *Transaction) txField { return txField{flag: &t.Secure} }},
	{[]string{"secureDetails"}, func(t *Transaction) txField { return txField{str: &t.SecureDetails} }},
	{[]string{"name"}, func(t *Transaction) txField { return txField{str: &t.Name} }},
	{[]string{"email"}, func(t *Transaction) txField { return txField{str: &t.Email} }},
	{[]string{"phone"}, func(t *Transaction) txField { return txField{str: &t.Phone} }},
	{[]string{"data"}, func(t *Transaction) txField { return txField{doc: &t.Data} }},
}

// UnmarshalJSON reads a transaction object by the rules of Transaction; a known field
// that cannot be read as its type is an error naming the field (never its value: ePay
// sends no secrets here, but a card id is not for logs either).
func (t *Transaction) UnmarshalJSON(b []byte) error {
	var obj map[string]json.RawMessage
	if err := json.Unmarshal(b, &obj); err != nil {
		return fmt.Errorf("transaction: %w", err)
	}
	if obj == nil {
		return errors.New("transaction: null")
	}
	*t = Transaction{Raw: append(json.RawMessage(nil), b...)}
	for _, spec := range fieldSpecs {
		key, val, err := spec.pick(obj)
		if err != nil {
			return err
		}
		if key == "" {
			continue
		}
		if err := spec.get(t).set(val); err != nil {
			return fmt.Errorf("transaction.%s: %w", key, err)
		}
	}
	t.HasOrgAmount, t.HasPayoutAmount = given(obj["orgAmount"]), given(obj["payoutAmount"])
	return nil
}

// given reports whether an amount field holds a value (not absent, null or "").
func given(v json.RawMessage) bool {
	s, err := jsonscan.ScalarText(v)
	return v != nil && err == nil && s != ""
}

// pick returns the spelling present and its value ("" when none is). Two spellings
// whose values read the same are one; otherwise ErrConflictingFields.
func (spec fieldSpec) pick(obj map[string]json.RawMessage) (key string, val json.RawMessage, err error) {
	for _, k := range spec.keys {
		v, ok := obj[k]
		if !ok {
			continue
		}
		if key == "" {
			key, val = k, v
			continue
		}
		a, errA := jsonscan.ScalarText(val)
		b, errB := jsonscan.ScalarText(v)
		if errA != nil || errB != nil || a != b {
			return "", nil, fmt.Errorf("%w: transaction.%s and transaction.%s", ErrConflictingFields, key, k)
		}
	}
	return key, val, nil
}

func (f txField) set(val json.RawMessage) error {
	switch {
	case f.doc != nil:
		if v := bytes.TrimSpace(val); len(v) > 0 && (v[0] == '{' || v[0] == '[') {
			*f.doc = string(v) // ePay documents a string holding JSON; the document itself means the same
			return nil
		}
		s, err := jsonscan.ScalarText(val)
		*f.doc = s
		return err
	case f.str != nil:
		s, err := jsonscan.ScalarText(val)
		*f.str = s
		return err
	case f.flag != nil:
		b, err := flexBool(val)
		*f.flag = b
		return err
	case f.num != nil:
		n, err := flexInt(val)
		if err == nil && (n > 1<<31-1 || n < -1<<31) {
			err = errors.New("out of range: " + strconv.FormatInt(n, 10))
		}
		*f.num = int(n)
		return err
	}
	s, err := jsonscan.ScalarText(val)
	if err != nil || s == "" {
		return err
	}
	a, err := epay.ParseAmount(s)
	*f.amt = a
	return err
}
