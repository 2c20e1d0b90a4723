package initiator

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/mail"
	"net/url"
	"sort"
	"strings"
	"unicode/utf8"

	"github.com/epayflow/epayflow/internal/epay"
)

// Payment kinds.
const (
	KindPayment = "payment" // card payment: scope=payment, halyk.pay
	KindP2P     = "p2p"     // P2P transfer: scope=transfer, halyk.p2p
)

// Description limits of the ePay form (a longer one is declined with code 3298): "125
// Latin or 62 Cyrillic characters" reads as characters and as 125 bytes of UTF-8 alike
// (62 Cyrillic letters are 124 bytes), so both are kept. Characters alone let through
// 62 '₸' (186 bytes) or 62 emoji (248 bytes), declined by ePay only after the invoice
// and its token exist.
const (
	DescriptionMaxLatin = 125
	DescriptionMaxOther = 62
	DescriptionMaxBytes = 125
)

// ErrInvalid is wrapped by FieldErrors.
var ErrInvalid = errors.New("invalid request")

// FieldErrors lists every problem of a request by field name.
type FieldErrors map[string]string

func (f FieldErrors) Error() string {
	names := make([]string, 0, len(f))
	for k := range f {
		names = append(names, k)
	}
	sort.Strings(names)
	parts := make([]string, len(names))
	for i, k := range names {
		parts[i] = k + ": " + f[k]
	}
	return "invalid request: " + strings.Join(parts, "; ")
}

// Is makes FieldErrors match ErrInvalid.
func (f FieldErrors) Is(target error) bool { return target == ErrInvalid }

// PaymentRequest is a validated, normalised POST /v1/payments body.
type PaymentRequest struct {
	Kind            string
	Amount          epay.Amount
	Currency        string
	Description     string
	AccountID       string
	Email           string
	Phone           string
	Language        string // rus, kaz or eng
	Name            string
	CardSave        bool
	BackLink        string // empty: the initiator's return page
	FailureBackLink string
	// OrderID and Metadata are the merchant's references, kept on the invoice and
	// carried in its events (reference.go). Omitted when empty, so the fingerprint of a
	// request without them is the one it had before they existed.
	OrderID  string            `json:",omitempty"`
	Metadata map[string]string `json:",omitempty"`
	// terminal, when set, is the invoice's terminal as its Idempotency-Key's record
	// holds it: a replay names the terminal the first attempt named, whatever this
	// replica's EPAY_P2P_TERMINAL says (not in the fingerprint).
	terminal string
}

const maxBody = 16 << 10

// ParsePaymentRequest reads and validates a request body. It returns FieldErrors
// listing every problem, or a *PaymentRequest. A key given twice, and a key that
// differs only in case from a known one (encoding/json would match it), are refused by
// name: what the initiator reads is exactly what the merchant wrote, once.
func ParsePaymentRequest(body []byte) (*PaymentRequest, error) {
	return parsePaymentRequest(body, nil)
}

// parsePaymentRequest is ParsePaymentRequest; when only is not nil, a known field not
// in it is refused too (the shop page's route takes the page's own fields only).
func parsePaymentRequest(body []byte, only map[string]bool) (*PaymentRequest, error) {
	obj, errs := decodeObject(body)
	if obj == nil {
		return nil, errs
	}
	p := &PaymentRequest{}
	for key, val := range obj {
		if _, done := errs[key]; done {
			continue
		}
		parse, ok := fieldParsers[key]
		switch {
		case !ok:
			errs[key] = unknownField(key)
			continue
		case only != nil && !only[key]:
			errs[key] = "not accepted on this route"
			continue
		}
		if msg := parse(p, val); msg != "" {
			errs[key] = msg
		}
	}
	for _, key := range []string{"kind", "amount", "currency", "description"} {
		if _, ok := obj[key]; !ok {
			errs[key] = "required"
		}
	}
	if p.Language == "" {
		p.Language = "rus"
	}
	if len(errs) > 0 {
		return nil, errs
	}
	return p, nil
}

// decodeObject reads one JSON object, key by key in document order, and reports every
// key given more than once. obj is nil when the body is not one JSON object.
func decodeObject(body []byte) (map[string]json.RawMessage, FieldErrors) {
	notObject := FieldErrors{"body": "must be one JSON object"}
	dec := json.NewDecoder(bytes.NewReader(body))
	if tok, err := dec.Token(); err != nil || tok != json.Delim('{') {
		return nil, notObject
	}
	obj := map[string]json.RawMessage{}
	errs := FieldErrors{}
	for dec.More() {
		tok, err := dec.Token()
		key, isKey := tok.(string)
		var val json.RawMessage
		if err != nil || !isKey || dec.Decode(&val) != nil {
			return nil, notObject
		}
		if _, seen := obj[key]; seen {
			errs[key] = "given more than once: each key may appear once"
		}
		obj[key] = val
	}
	if tok, err := dec.Token(); err != nil || tok != json.Delim('}') {
		return nil, notObject
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, notObject
	}
	return obj, errs
}

// unknownField names the known key an unknown one differs from only in case.
func unknownField(key string) string {
	for known := range fieldParsers {
		if strings.EqualFold(key, known) {
			return fmt.Sprintf("unknown field: keys are case-sensitive, did you mean %q?", known)
		}
	}
	return "unknown field"
}

type fieldParser func(p *PaymentRequest, v json.RawMessage) string

var fieldParsers = map[string]fieldParser{
	"kind":            parseKind,
	"amount":          parseAmount,
	"currency":        parseCurrency,
	"description":     parseDescription,
	"accountId":       text(&accountIDRule, func(p *PaymentRequest) *string { return &p.AccountID }),
	"name":            text(&nameRule, func(p *PaymentRequest) *string { return &p.Name }),
	"email":           parseEmail,
	"phone":           parsePhone,
	"language":        parseLanguage,
	"cardSave":        parseCardSave,
	"backLink":        link(func(p *PaymentRequest) *string { return &p.BackLink }),
	"failureBackLink": link(func(p *PaymentRequest) *string { return &p.FailureBackLink }),
	"orderId":         parseOrderID,
	"metadata":        parseMetadata,
}

// str reads a JSON string; ok is false for any other JSON value.
func str(v json.RawMessage) (string, bool) {
	var s string
	if len(v) == 0 || v[0] != '"' || json.Unmarshal(v, &s) != nil {
		return "", false
	}
	return strings.TrimSpace(s), true
}

func parseKind(p *PaymentRequest, v json.RawMessage) string {
	s, ok := str(v)
	if !ok || s != KindPayment && s != KindP2P {
		return `must be "payment" or "p2p"`
	}
	p.Kind = s
	return ""
}

func parseAmount(p *PaymentRequest, v json.RawMessage) string {
	const msg = "must be a number greater than 0 with at most 2 decimals"
	var a epay.Amount
	if len(v) == 0 || v[0] != '"' && (v[0] < '0' || v[0] > '9') && v[0] != '-' {
		return msg
	}
	if err := a.UnmarshalJSON(v); err != nil || a <= 0 {
		return msg
	}
	p.Amount = a
	return ""
}

func parseCurrency(p *PaymentRequest, v json.RawMessage) string {
	s, ok := str(v)
	c, err := epay.NormalizeCurrency(s)
	if !ok || err != nil {
		return "must be one of KZT, USD, EUR, RUB"
	}
	p.Currency = c
	return ""
}

func parseDescription(p *PaymentRequest, v json.RawMessage) string {
	s, ok := str(v)
	if !ok || s == "" {
		return "must be a non-empty string"
	}
	if unprintable(s) { // shown on ePay's page, in receipts and in events: no bidi or zero-width tricks
		return "must not contain control, format or line-separator characters"
	}
	// characters first, the rule as ePay states it; then bytes, the other reading of it
	n := utf8.RuneCountInString(s)
	if isASCII(s) && n > DescriptionMaxLatin {
		return fmt.Sprintf("must be at most %d characters (has %d)", DescriptionMaxLatin, n)
	}
	if !isASCII(s) && n > DescriptionMaxOther {
		return fmt.Sprintf("must be at most %d characters when it contains Cyrillic or other non-Latin letters (has %d)", DescriptionMaxOther, n)
	}
	if len(s) > DescriptionMaxBytes {
		return fmt.Sprintf("must be at most %d bytes of UTF-8 (has %d bytes in %d characters: a Cyrillic letter takes 2, ₸ or — 3, an emoji 4)",
			DescriptionMaxBytes, len(s), n)
	}
	p.Description = s
	return ""
}

type textRule struct {
	max  int
	what string
}

var (
	accountIDRule = textRule{64, "accountId"}
	nameRule      = textRule{100, "name"}
)

func text(rule *textRule, dst func(*PaymentRequest) *string) fieldParser {
	return func(p *PaymentRequest, v json.RawMessage) string {
		s, ok := str(v)
		switch {
		case !ok:
			return "must be a string"
		case utf8.RuneCountInString(s) > rule.max:
			return fmt.Sprintf("must be at most %d characters", rule.max)
		case unprintable(s):
			return "must not contain control, format or line-separator characters"
		}
		*dst(p) = s
		return ""
	}
}

func parseEmail(p *PaymentRequest, v json.RawMessage) string {
	const msg = "must be an email address such as name@example.kz"
	s, ok := str(v)
	if !ok {
		return msg
	}
	if s == "" {
		return ""
	}
	a, err := mail.ParseAddress(s)
	if err != nil || a.Address != s || a.Name != "" || len(s) > 254 || !strings.Contains(s[strings.LastIndexByte(s, '@'):], ".") {
		return msg
	}
	p.Email = s
	return ""
}

func parsePhone(p *PaymentRequest, v json.RawMessage) string {
	const msg = "must be 11 digits starting with 7, such as 77771234567"
	s, ok := str(v)
	if !ok {
		return msg
	}
	s = strings.TrimPrefix(s, "+")
	if s == "" {
		return ""
	}
	if len(s) != 11 || s[0] != '7' || strings.Trim(s, "0123456789") != "" {
		return msg
	}
	p.Phone = s
	return ""
}

var languages = map[string]string{
	"rus": "rus", "ru": "rus", "kaz": "kaz", "kz": "kaz", "kk": "kaz", "eng": "eng", "en": "eng",
}

func parseLanguage(p *PaymentRequest, v json.RawMessage) string {
	s, ok := str(v)
	l, known := languages[strings.ToLower(s)]
	if !ok || !known && s != "" {
		return "must be rus, kaz or eng (RU, RUS, KZ, KAZ, EN, ENG also accepted)"
	}
	p.Language = l
	return ""
}

func parseCardSave(p *PaymentRequest, v json.RawMessage) string {
	switch string(v) {
	case "true":
		p.CardSave = true
	case "false":
		p.CardSave = false
	default:
		return "must be true or false"
	}
	return ""
}

func link(dst func(*PaymentRequest) *string) fieldParser {
	return func(p *PaymentRequest, v json.RawMessage) string {
		const msg = "must be an absolute http(s) URL"
		s, ok := str(v)
		if !ok {
			return msg
		}
		if s == "" {
			return ""
		}
		if !absoluteHTTP(s) {
			return msg
		}
		*dst(p) = s
		return ""
	}
}

func absoluteHTTP(s string) bool {
	u, err := url.Parse(s)
	return err == nil && (u.Scheme == "http" || u.Scheme == "https") && u.Host != "" && u.User == nil && len(s) <= 2048
}

func isASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= utf8.RuneSelf {
			return false
		}
	}
	return true
}
