package epaytest

import (
	"encoding/json"
	"strings"
	"time"

	"github.com/epayflow/epayflow/internal/epay"
)

// Zone is the zone ePay writes its times in (Kazakhstan is UTC+5 since 2024).
var Zone = time.FixedZone("+05:00", 5*60*60)

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

// Transaction is one card transaction as ePay's callback tells it.
type Transaction struct {
	ID, InvoiceID, InvoiceIDAlt string
	Terminal, Currency          string // the currency as ePay writes it (KZT)
	Amount                      epay.Amount
	// ReasonCode is 0 for an approved payment (the success callback), otherwise the
	// code the failure callback carries; for ePay's NOT FINAL outcome that is 454, though
	// the money was taken.
	ReasonCode                       int
	Card                             Card
	Holder, ApprovalCode, Reference  string
	AccountID, Description, Language string // Language as the payment object gave it
	Email, Phone, IP                 string
	Created                          time.Time
}

// Body renders the callback ePay would send for t, with secretHash: the success sample's
// shape when t was approved, the failure sample's otherwise.
func (t Transaction) Body(secretHash string) []byte {
	dt := t.Created.In(Zone).Format(dateTimeLayout)
	var v any
	if t.ReasonCode == 0 {
		v = successBody{
			AccountID: t.AccountID, Amount: t.Amount, ApprovalCode: t.ApprovalCode, CardID: t.Card.ID,
			CardMask: t.Card.Mask, CardType: t.Card.Type, Code: "ok", Currency: t.Currency, DateTime: dt,
			Description: t.Description, Email: t.Email, ID: t.ID, InvoiceID: t.InvoiceID, IP: t.IP,
			Issuer: t.Card.Issuer, Language: Language(t.Language), Name: t.Holder, Phone: t.Phone,
			Reason: "success", Reference: t.Reference, Secure: "no", SecureDetails: "F",
			Terminal: t.Terminal, SecretHash: secretHash,
		}
	} else {
		reason, _ := epay.Reason(t.ReasonCode)
		v = failureBody{
			ID: t.ID, DateTime: dt, InvoiceID: t.InvoiceID, InvoiceIDAlt: t.InvoiceIDAlt, Amount: t.Amount,
			Currency: t.Currency, Terminal: t.Terminal, AccountID: t.AccountID, Description: t.Description,
			Language: Language(t.Language), CardMask: t.Card.Mask, CardType: t.Card.Type,
			Issuer: t.Card.Issuer, Reference: t.Reference, Secure: "no", SecureDetails: "F", Code: "error",
			Reason: reason.EN, ReasonCode: t.ReasonCode, Name: t.Holder, Email: t.Email, Phone: t.Phone,
			IP: t.IP, SecretHash: secretHash,
		}
	}
	b, _ := json.Marshal(v) // plain strings and numbers: cannot fail
	return b
}

// Language writes a payment object's language the way callbacks and the status API
// carry it: KAZ, ENG or RUS.
func Language(l string) string {
	switch strings.ToLower(strings.TrimSpace(l)) {
	case "kaz", "kz", "kk":
		return "KAZ"
	case "eng", "en":
		return "ENG"
	}
	return "RUS"
}
