package sandbox

import (
	"encoding/json"
	"strings"
	"time"

	"github.com/epayflow/epayflow/internal/epay"
)

// almaty is the zone ePay writes dateTime in (Kazakhstan is UTC+5 since 2024).
var almaty = time.FixedZone("+05:00", 5*60*60)

// dateTimeLayout is RFC 3339 with all nine fraction digits, as the success sample has.
const dateTimeLayout = "2006-01-02T15:04:05.000000000Z07:00"

// successBody has the fields, types and order of ePay's success postLink sample, plus
// secret_hash.
type successBody struct {
	AccountID     string      `json:"accountId"`
	Amount        epay.Amount `json:"amount"`
	ApprovalCode  string      `json:"approvalCode"`
	CardID        string      `json:"cardId"`
	CardMask      string      `json:"cardMask"`
	CardType      string      `json:"cardType"`
	Code          string      `json:"code"`
	Currency      string      `json:"currency"`
	DateTime      string      `json:"dateTime"`
	Description   string      `json:"description"`
	Email         string      `json:"email"`
	ID            string      `json:"id"`
	InvoiceID     string      `json:"invoiceId"`
	IP            string      `json:"ip"`
	IPCity        string      `json:"ipCity"`
	IPCountry     string      `json:"ipCountry"`
	IPDistrict    string      `json:"ipDistrict"`
	IPLatitude    float64     `json:"ipLatitude"`
	IPLongitude   float64     `json:"ipLongitude"`
	IPRegion      string      `json:"ipRegion"`
	Issuer        string      `json:"issuer"`
	Language      string      `json:"language"`
	Name          string      `json:"name"`
	Phone         string      `json:"phone"`
	Reason        string      `json:"reason"`
	ReasonCode    int         `json:"reasonCode"`
	Reference     string      `json:"reference"`
	Secure        string      `json:"secure"`
	SecureDetails string      `json:"secureDetails"`
	Terminal      string      `json:"terminal"`
	SecretHash    string      `json:"secret_hash"`
}

// failureBody has the fields, types and order of ePay's failure sample (CardType with a
// capital C), plus secret_hash, and invoiceIdAlt when the payment object had one.
type failureBody struct {
	ID             string      `json:"id"`
	DateTime       string      `json:"dateTime"`
	InvoiceID      string      `json:"invoiceId"`
	InvoiceIDAlt   string      `json:"invoiceIdAlt,omitempty"`
	Amount         epay.Amount `json:"amount"`
	Currency       string      `json:"currency"`
	Terminal       string      `json:"terminal"`
	AccountID      string      `json:"accountId"`
	Description    string      `json:"description"`
	Language       string      `json:"language"`
	CardMask       string      `json:"cardMask"`
	CardType       string      `json:"CardType"`
	Issuer         string      `json:"issuer"`
	Reference      string      `json:"reference"`
	Secure         string      `json:"secure"`
	SecureDetails  string      `json:"secureDetails"`
	TokenRecipient string      `json:"tokenRecipient"`
	Code           string      `json:"code"`
	Reason         string      `json:"reason"`
	ReasonCode     int         `json:"reasonCode"`
	Name           string      `json:"name"`
	Email          string      `json:"email"`
	Phone          string      `json:"phone"`
	IP             string      `json:"ip"`
	IPCountry      string      `json:"ipCountry"`
	IPCity         string      `json:"ipCity"`
	IPRegion       string      `json:"ipRegion"`
	IPDistrict     string      `json:"ipDistrict"`
	IPLongitude    float64     `json:"ipLongitude"`
	IPLatitude     float64     `json:"ipLatitude"`
	SecretHash     string      `json:"secret_hash"`
}

// callbackBody renders the callback ePay would send for t: the success shape when the
// transaction was approved, the failure shape otherwise (also for a NOT FINAL outcome,
// whose money was taken: its callback carries the reported code, 454).
func callbackBody(t txn, secretHash string) []byte {
	dt := t.created.In(almaty).Format(dateTimeLayout)
	var v any
	if !t.reportedFailure() {
		v = successBody{
			AccountID: t.accountID, Amount: t.amount, ApprovalCode: t.approvalCode, CardID: t.card.id,
			CardMask: t.card.mask, CardType: t.card.typ, Code: "ok", Currency: t.currency, DateTime: dt,
			Description: t.description, Email: t.email, ID: t.id, InvoiceID: t.invoiceID, IP: t.ip,
			Issuer: t.card.issuer, Language: callbackLanguage(t.language), Name: t.holder, Phone: t.phone,
			Reason: "success", Reference: t.reference, Secure: "no", SecureDetails: "F",
			Terminal: t.terminal, SecretHash: secretHash,
		}
	} else {
		reason, _ := epay.Reason(t.callbackCode())
		v = failureBody{
			ID: t.id, DateTime: dt, InvoiceID: t.invoiceID, InvoiceIDAlt: t.invoiceIDAlt, Amount: t.amount,
			Currency: t.currency, Terminal: t.terminal, AccountID: t.accountID, Description: t.description,
			Language: callbackLanguage(t.language), CardMask: t.card.mask, CardType: t.card.typ,
			Issuer: t.card.issuer, Reference: t.reference, Secure: "no", SecureDetails: "F", Code: "error",
			Reason: reason.EN, ReasonCode: t.callbackCode(), Name: t.holder, Email: t.email, Phone: t.phone,
			IP: t.ip, SecretHash: secretHash,
		}
	}
	b, _ := json.Marshal(v) // plain strings and numbers: cannot fail
	return b
}

// callbackLanguage writes the payment object's language the way callbacks carry it.
func callbackLanguage(l string) string {
	switch strings.ToLower(strings.TrimSpace(l)) {
	case "kaz", "kz", "kk":
		return "KAZ"
	case "eng", "en":
		return "ENG"
	}
	return "RUS"
}
