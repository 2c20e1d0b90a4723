package epayapi

import (
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/epayflow/epayflow/internal/epay"
)

// readDoc reads one of ePay's documented samples (testdata/docs/README.md names the page
// of each).
func readDoc(t testing.TB, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", "docs", name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestDocumentedPaymentStatusIsReadAsEPayMeansIt(t *testing.T) {
	s, err := parsePaymentStatus(readDoc(t, "check-status-payment.json"))
	if err != nil {
		t.Fatal(err)
	}
	tx := s.Transaction
	if s.ResultCode != ResultSuccess || s.ResultMessage != "SUCCESS" || tx == nil {
		t.Fatalf("status %+v", s)
	}
	// terminal is ePay's processing terminal, terminalID the merchant's: two fields.
	if tx.Terminal != "98120001" || tx.TerminalID != TestTerminal || tx.MerchantTerminal() != TestTerminal {
		t.Fatalf("terminal %q terminalID %q merchant %q", tx.Terminal, tx.TerminalID, tx.MerchantTerminal())
	}
	if tx.Amount != 1222 || tx.OrgAmount != 2222 || tx.PayoutAmount != 1000 || tx.OriginalAmount() != 2222 || tx.Refunded() != 1000 {
		t.Fatalf("amount %s org %s payout %s original %s refunded %s", tx.Amount, tx.OrgAmount, tx.PayoutAmount, tx.OriginalAmount(), tx.Refunded())
	}
	if tx.InvoiceID != "205218074" || tx.StatusName != StatusCharge || tx.ReasonCode != 0 || !tx.Secure ||
		tx.StatusID == "" || tx.CardID == "" || !strings.HasPrefix(tx.Data, `{"custom_id"`) || tx.ApprovalCode != "170243" {
		t.Fatalf("transaction %+v", tx)
	}
}

func TestDocumentedP2PStatusIsReadFromTransactionP2P(t *testing.T) {
	s, err := parseP2PStatus(readDoc(t, "check-status-p2p.json"))
	if err != nil {
		t.Fatal(err)
	}
	tx := s.Transaction
	if s.Code != ResultSuccess || s.Message != "SUCCESS" || tx == nil {
		t.Fatalf("status %+v", s)
	}
	if tx.ID != "55dd8788-f222-479c-a318-fb06ad2fc090" || tx.InvoiceID != "12345678937780" || tx.Amount != 20000 ||
		tx.Terminal != "98151552" || tx.MerchantTerminal() != "c36b282f-6819-4d4f-85df-a4bdc8a8f703" ||
		tx.AccountID != "123" || tx.StatusName != StatusCharge || tx.CardType != "VISA" {
		t.Fatalf("transaction %+v", tx)
	}
}

func TestP2PStatusReadsAFlatTransactionAndNoTransaction(t *testing.T) {
	s, err := parseP2PStatus([]byte(`{"result":{"code":"100","message":"SUCCESS"},"transaction":{"id":"p","amount":5,"statusName":"AUTH"}}`))
	if err != nil || s.Transaction == nil || s.Transaction.ID != "p" || s.Transaction.Amount != 500 {
		t.Fatalf("flat: %+v %v", s, err)
	}
	for _, body := range []string{`{"result":{"code":"102","message":"not found"}}`, `{"result":{"code":"102"},"transaction":{"p2p":null}}`} {
		s, err := parseP2PStatus([]byte(body))
		if !errors.Is(err, ErrStatusNotFound) || s == nil || s.Transaction != nil {
			t.Fatalf("%s: %+v %v", body, s, err)
		}
	}
}

func TestOlderOperationAnswerIsReadWithItsSpellings(t *testing.T) {
	var tx Transaction
	if err := json.Unmarshal(readDoc(t, "operation-status.json"), &tx); err != nil {
		t.Fatal(err)
	}
	// invoiceId, accountId, cardId spellings; terminal is the 8-digit processing
	// terminal and there is no terminalID: it matches no merchant terminal.
	if tx.InvoiceID != "1601891358135" || tx.CardID != "16aae4f4-6d24-4a17-b1c6-c09ce7659efb" || tx.Amount != 400 ||
		tx.Secure || tx.MerchantTerminal() != "98458031" || tx.OriginalAmount() != 400 {
		t.Fatalf("transaction %+v", tx)
	}
}

// Every documented sample decodes to the same value every time: nothing depends on
// map iteration order.
func TestDecodingTheDocumentedSamplesIsDeterministic(t *testing.T) {
	for _, name := range []string{"check-status-payment.json", "check-status-payment-2022.json", "check-status-p2p.json"} {
		raw := readDoc(t, name)
		decode := func() any {
			if strings.Contains(name, "p2p") {
				s, err := parseP2PStatus(raw)
				if err != nil {
					t.Fatal(err)
				}
				return *s.Transaction
			}
			s, err := parsePaymentStatus(raw)
			if err != nil && !errors.Is(err, ErrStatusRejected) {
				t.Fatal(err)
			}
			return *s.Transaction
		}
		first := decode()
		for i := range 300 {
			if got := decode(); !reflect.DeepEqual(got, first) {
				t.Fatalf("%s: decode %d differs:\n%+v\n%+v", name, i, got, first)
			}
		}
	}
}

// Each pair of spellings: either order reads the same; the same value twice is that
// value; two different values are a bad response, whichever comes first.
func TestSpellingPairsHaveOneRuleInEitherOrder(t *testing.T) {
	pairs := []struct {
		a, b string
		get  func(*Transaction) string
	}{
		{"invoiceID", "invoiceId", func(t *Transaction) string { return t.InvoiceID }},
		{"accountID", "accountId", func(t *Transaction) string { return t.AccountID }},
		{"cardID", "cardId", func(t *Transaction) string { return t.CardID }},
		{"cardType", "CardType", func(t *Transaction) string { return t.CardType }},
		{"statusID", "statusId", func(t *Transaction) string { return t.StatusID }},
		{"terminalID", "terminalId", func(t *Transaction) string { return t.TerminalID }},
	}
	for _, p := range pairs {
		for _, keys := range [][2]string{{p.a, p.b}, {p.b, p.a}} {
			var tx Transaction
			one := `{"` + keys[0] + `":"v1"}`
			if err := json.Unmarshal([]byte(one), &tx); err != nil || p.get(&tx) != "v1" {
				t.Fatalf("%s alone: %q %v", keys[0], p.get(&tx), err)
			}
			same := `{"` + keys[0] + `":"v1","` + keys[1] + `":"v1"}`
			if err := json.Unmarshal([]byte(same), &tx); err != nil || p.get(&tx) != "v1" {
				t.Fatalf("%s: same value twice: %q %v", same, p.get(&tx), err)
			}
			differ := `{"` + keys[0] + `":"v1","` + keys[1] + `":"v2"}`
			err := json.Unmarshal([]byte(differ), &tx)
			if !errors.Is(err, ErrConflictingFields) || !errors.Is(err, ErrBadResponse) {
				t.Fatalf("%s: err %v, want ErrConflictingFields", differ, err)
			}
		}
	}
	// terminal and terminalID are two fields, in either order.
	for _, body := range []string{`{"terminal":"98120001","terminalID":"merchant"}`, `{"terminalID":"merchant","terminal":"98120001"}`} {
		var tx Transaction
		if err := json.Unmarshal([]byte(body), &tx); err != nil || tx.Terminal != "98120001" || tx.TerminalID != "merchant" || tx.MerchantTerminal() != "merchant" {
			t.Fatalf("%s: %+v %v", body, tx, err)
		}
	}
}

func TestConflictingSpellingsMakeTheStatusABadResponse(t *testing.T) {
	body := `{"resultCode":"100","transaction":{"invoiceID":"100000000001","invoiceId":"100000000002","statusName":"CHARGE"}}`
	if s, err := parsePaymentStatus([]byte(body)); !errors.Is(err, ErrBadResponse) || s != nil {
		t.Fatalf("%+v %v", s, err)
	}
}

func TestOriginalAmountFallsBackToAmount(t *testing.T) {
	tx := Transaction{Amount: epay.Amount(500)}
	if tx.OriginalAmount() != 500 || tx.Refunded() != 0 {
		t.Fatal(tx.OriginalAmount(), tx.Refunded())
	}
	tx = Transaction{Amount: 300, OrgAmount: 500, HasOrgAmount: true}
	if tx.OriginalAmount() != 500 || tx.Refunded() != 200 {
		t.Fatal(tx.OriginalAmount(), tx.Refunded())
	}
}

// What was paid back is payoutAmount whenever the answer gives it, 0 included: after a
// partial charge of 60 of a hold of 100 (amount 60, orgAmount 100, payoutAmount 0)
// nothing was refunded, and 40 read as refunded would make a lost refund of 40 look
// made. With neither payoutAmount nor orgAmount the answer does not tell.
func TestRefundedIsPayoutAmountWhenGivenAndUnknownWithoutEither(t *testing.T) {
	for _, c := range []struct {
		tx       string
		refunded epay.Amount
		known    bool
	}{
		{`{"statusName":"CHARGE","amount":60,"orgAmount":100,"payoutAmount":0}`, 0, true},
		{`{"statusName":"CHARGE","amount":12.22,"orgAmount":22.22,"payoutAmount":10}`, 1000, true}, // ePay's documented sample
		{`{"statusName":"CHARGE","amount":60,"orgAmount":100}`, 4000, true},
		{`{"statusName":"CHARGE","amount":100,"orgAmount":100,"payoutAmount":null}`, 0, true},
		{`{"statusName":"CHARGE","amount":60}`, 0, false},
		{`{"statusName":"CHARGE","amount":60,"orgAmount":null,"payoutAmount":""}`, 0, false},
	} {
		var tx Transaction
		if err := json.Unmarshal([]byte(c.tx), &tx); err != nil {
			t.Fatal(err)
		}
		if got, known := tx.RefundedKnown(); got != c.refunded || known != c.known {
			t.Errorf("%s: refunded %s, known %v; want %s, %v", c.tx, got, known, c.refunded, c.known)
		}
	}
}

// The documented answer is about invoice 205218074 (its transaction's invoiceID): it is
// that invoice's, leading zeros aside, and no other's; an answer naming no invoice cannot
// be told apart.
func TestADocumentedTransactionIsOfItsOwnInvoiceOnly(t *testing.T) {
	s, err := parsePaymentStatus(readDoc(t, "check-status-payment.json"))
	if err != nil {
		t.Fatal(err)
	}
	for id, want := range map[string]bool{"205218074": true, "000205218074": true, "205218075": false, "2052180740": false, "": false} {
		if got := s.Transaction.OfInvoice(id); got != want {
			t.Errorf("OfInvoice(%q) = %v, want %v", id, got, want)
		}
	}
	if !(&Transaction{}).OfInvoice("205218075") {
		t.Error("a transaction naming no invoice: refused, want taken (nothing to compare)")
	}
}
