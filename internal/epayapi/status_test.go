package epayapi

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"reflect"
	"slices"
	"testing"

	"github.com/epayflow/epayflow/internal/epay"
)

const serviceTokenBody = `{"access_token":"SERVICE_TOKEN_42","expires_in":"1200","scope":"webapi usermanagement email_send verification statement statistics payment","token_type":"Bearer"}`

func TestPaymentStatusMapsEveryResultCode(t *testing.T) {
	tests := []struct {
		code ResultCode
		want error
	}{
		{ResultSuccess, nil},
		{ResultRejected, ErrStatusRejected},
		{ResultNotFound, ErrStatusNotFound},
		{ResultError, ErrStatusError},
		{ResultNoTerminal, ErrStatusNoTerminal},
		{ResultWrongTerminal, ErrStatusWrongTerminal},
		{ResultInProgress, ErrStatusInProgress},
		{ResultForeignTerminal, ErrStatusForeignTerminal},
		{"105", ErrStatusUnknown},
	}
	for _, tt := range tests {
		t.Run(string(tt.code), func(t *testing.T) {
			status := fmt.Sprintf(`{"resultCode":%q,"resultMessage":"message %s"}`, tt.code, tt.code)
			f := startFake(t, byPath(answer(200, serviceTokenBody), answer(200, status)))
			got, err := mustClient(t, testConfig(f)).PaymentStatus(context.Background(), "100000000001")
			if tt.want == nil && err != nil || tt.want != nil && !errors.Is(err, tt.want) {
				t.Fatalf("err %v, want %v", err, tt.want)
			}
			if got == nil || got.ResultCode != tt.code || got.ResultMessage != "message "+string(tt.code) {
				t.Fatalf("status %+v, want code %s", got, tt.code)
			}
			reqs := f.requests()
			if len(reqs) != 2 {
				t.Fatalf("%d requests, want a service token then the status", len(reqs))
			}
			if r := reqs[1]; r.Method != http.MethodGet || r.Path != "/check-status/payment/transaction/100000000001" ||
				r.Auth != "Bearer SERVICE_TOKEN_42" {
				t.Fatalf("status request %+v", r)
			}
		})
	}
}

func TestTransactionIsDecodedTolerantly(t *testing.T) {
	tests := []struct {
		name string
		tx   string
		want Transaction
	}{
		{
			name: "secure as a boolean, reasonCode as a string, invoiceID with a capital D",
			tx: `{"id":"tx-1","invoiceID":"100000000001","amount":100,"currency":"KZT","terminal":"T","statusName":"CHARGE",` +
				`"reasonCode":"0","reason":"success","secure":true,"cardMask":"440564...5096","accountID":"acc"}`,
			want: Transaction{ID: "tx-1", InvoiceID: "100000000001", Amount: 10000, Currency: "KZT", Terminal: "T",
				StatusName: StatusCharge, Reason: "success", Secure: true, CardMask: "440564...5096", AccountID: "acc"},
		},
		{
			name: "secure as yes/no, reasonCode as a number, amount as a string",
			tx:   `{"id":"tx-2","invoiceId":"100000000002","amount":"12.22","statusName":"REJECT","reasonCode":484,"secure":"no","unknown":{"x":1}}`,
			want: Transaction{ID: "tx-2", InvoiceID: "100000000002", Amount: 1222, StatusName: StatusReject, ReasonCode: 484},
		},
		{
			// the documented sample's amount is orgAmount 22.22 less payoutAmount 10, and
			// data "a JSON string": a float64's rendering of the difference, and the
			// document itself, are read, not refused (a refused answer leaves the invoice
			// unreconciled for good)
			name: "an amount as a float64 writes it, data as an object",
			tx: `{"id":"tx-4","amount":12.219999999999999,"orgAmount":22.22,"payoutAmount":10,"amountBonus":0.30000000000000004,` +
				`"statusName":"CHARGE","data":{"custom_id":"x"}}`,
			want: Transaction{ID: "tx-4", Amount: 1222, OrgAmount: 2222, PayoutAmount: 1000, AmountBonus: 30, StatusName: StatusCharge,
				Data: `{"custom_id":"x"}`, HasOrgAmount: true, HasPayoutAmount: true},
		},
		{
			name: "nulls leave zero values",
			tx:   `{"id":"tx-3","amount":null,"reasonCode":null,"secure":null,"statusName":"NEW"}`,
			want: Transaction{ID: "tx-3", StatusName: StatusNew},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			body := `{"resultCode":"100","resultMessage":"success","transaction":` + tt.tx + `}`
			f := startFake(t, byPath(answer(200, serviceTokenBody), answer(200, body)))
			got, err := mustClient(t, testConfig(f)).PaymentStatus(context.Background(), "100000000001")
			if err != nil {
				t.Fatal(err)
			}
			if string(got.Raw) != body || string(got.Transaction.Raw) != tt.tx {
				t.Fatalf("raw not kept: %s / %s", got.Raw, got.Transaction.Raw)
			}
			tx := *got.Transaction
			tx.Raw = nil
			if !reflect.DeepEqual(tx, tt.want) {
				t.Fatalf("transaction\n got %+v\nwant %+v", tx, tt.want)
			}
		})
	}
}

func TestTransactionWithAnUnreadableAmountIsABadResponse(t *testing.T) {
	body := `{"resultCode":"100","transaction":{"amount":"12.345"}}`
	f := startFake(t, byPath(answer(200, serviceTokenBody), answer(200, body)))
	if _, err := mustClient(t, testConfig(f)).PaymentStatus(context.Background(), "100000000001"); !errors.Is(err, ErrBadResponse) {
		t.Fatalf("err %v, want ErrBadResponse", err)
	}
}

func TestP2PStatusReadsResultCodeAndMessage(t *testing.T) {
	body := `{"result":{"code":"107","message":"in progress"},"transaction":{"id":"p2p-1","amount":100,"statusName":"AUTH"}}`
	f := startFake(t, byPath(answer(200, serviceTokenBody), answer(200, body)))
	got, err := mustClient(t, testConfig(f)).P2PStatus(context.Background(), "order-7")
	if !errors.Is(err, ErrStatusInProgress) {
		t.Fatalf("err %v, want ErrStatusInProgress", err)
	}
	if got.Code != ResultInProgress || got.Message != "in progress" || got.Transaction.ID != "p2p-1" || got.Transaction.Amount != epay.Amount(10000) {
		t.Fatalf("status %+v", got)
	}
	if p := f.requests()[1].Path; p != "/check-status/p2p/transaction/order-7" {
		t.Fatalf("path %s", p)
	}
}

func TestStatusWithoutAResultCodeIsABadResponse(t *testing.T) {
	f := startFake(t, byPath(answer(200, serviceTokenBody), answer(200, `{"transaction":null}`)))
	if _, err := mustClient(t, testConfig(f)).PaymentStatus(context.Background(), "100000000001"); !errors.Is(err, ErrBadResponse) {
		t.Fatalf("err %v, want ErrBadResponse", err)
	}
}

func TestStatusRefusesIdsThatWouldChangeThePath(t *testing.T) {
	f := startFake(t, answer(200, serviceTokenBody))
	for _, id := range []string{"", "1/../../x", "1?x=y"} {
		if _, err := mustClient(t, testConfig(f)).PaymentStatus(context.Background(), id); !errors.Is(err, ErrRequest) {
			t.Fatalf("id %q: err %v, want ErrRequest", id, err)
		}
	}
	if n := len(f.requests()); n != 0 {
		t.Fatalf("%d requests sent", n)
	}
}

// A 4xx status answer carrying ePay's "102 not found" or "107 in progress" is read as that
// answer (the reconciler then counts it and ends after so many; as an error it asked
// again for ever). A 4xx with any other result code stays an error: no verdict on money
// is read from a 4xx.
func TestA4xxStatusAnswerWithoutAVerdictIsReadAsOne(t *testing.T) {
	for _, c := range []struct {
		status int
		body   string
		want   error
		read   bool
	}{
		{400, `{"resultCode":"102","resultMessage":"Transaction not found"}`, ErrStatusNotFound, true},
		{404, `{"resultCode":102,"resultMessage":"Transaction not found"}`, ErrStatusNotFound, true},
		{400, `{"resultCode":"107","resultMessage":"in progress"}`, ErrStatusInProgress, true},
		{400, `{"resultCode":"100","transaction":{"invoiceID":"000001","statusName":"CHARGE","amount":100,"currency":"KZT"}}`, nil, false},
		{400, `{"resultCode":"101","transaction":{"invoiceID":"000001","statusName":"REJECT"}}`, nil, false},
		{401, `{"resultCode":"102"}`, nil, false},
		{400, `not json`, nil, false},
	} {
		f := startFake(t, byPath(answer(200, serviceTokenBody), answer(c.status, c.body)))
		st, err := mustClient(t, testConfig(f)).PaymentStatus(context.Background(), "000001")
		var api *APIError
		switch {
		case c.read && (st == nil || !errors.Is(err, c.want)):
			t.Errorf("%d %s: status %+v, err %v; want it read, %v", c.status, c.body, st, err, c.want)
		case !c.read && (st != nil || !errors.As(err, &api)):
			t.Errorf("%d %s: status %+v, err %v; want an *APIError and no status", c.status, c.body, st, err)
		}
	}
}

// With a P2P terminal of its own (EPAY_P2P_TERMINAL), transfer tokens and the P2P
// status's service token name it, and card payments' tokens and status keep
// EPAY_TERMINAL: ePay answers 106 (wrong terminal) to a status asked with a token of
// another terminal than the transaction's.
func TestTheP2PTerminalIsTheTerminalOfTransfersOnly(t *testing.T) {
	const card, p2p = "67e34d63-102f-4bd1-898e-370781d0074d", "40a348cb-68a3-45d5-9002-a4836d79c3b5"
	f := startFake(t, byPath(answer(200, serviceTokenBody), answer(200, `{"resultCode":"100","result":{"code":"100"}}`)))
	cfg := testConfig(f)
	cfg.P2PTerminal = p2p
	c := mustClient(t, cfg)
	ctx := context.Background()
	c.TransferToken(ctx, TokenRequest{SecretHash: "JDKCNDDGGDTPSKJD"})
	c.PaymentToken(ctx, paymentRequest())
	c.P2PStatus(ctx, "order-7")
	c.PaymentStatus(ctx, "000000007")
	c.ServiceToken(ctx)
	// an invoice's own terminal, when the caller names it (the worker: the invoice's)
	c.P2PStatusOn(ctx, "term-of-the-transfer", "order-8")
	c.PaymentStatusOn(ctx, "term-of-the-payment", "000000008")
	c.Operate(ctx, OperationRequest{Op: OpCancel, TransactionID: "tx-1", Terminal: "term-of-the-payment"})
	c.Operate(ctx, OperationRequest{Op: OpCancel, TransactionID: "tx-1"})
	c.TransferToken(ctx, TokenRequest{SecretHash: "JDKCNDDGGDTPSKJD", Terminal: "term-of-the-transfer"})
	var got []string
	for _, r := range f.requests() {
		if r.Path != "/oauth2/token" {
			continue
		}
		form, _ := url.ParseQuery(r.Body)
		got = append(got, form.Get("scope")+" "+form.Get("terminal"))
	}
	want := []string{"transfer " + p2p, "payment " + card, ScopeService + " " + p2p, ScopeService + " " + card, ScopeService + " " + card,
		ScopeService + " term-of-the-transfer", ScopeService + " term-of-the-payment", ScopeService + " term-of-the-payment", ScopeService + " " + card, "transfer term-of-the-transfer"}
	if !slices.Equal(got, want) {
		t.Fatalf("token requests (scope terminal)\n got %q\nwant %q", got, want)
	}
	if c.P2PTerminal() != p2p || mustClient(t, testConfig(f)).P2PTerminal() != card {
		t.Fatalf("P2PTerminal() %q, and %q unset: want %q and EPAY_TERMINAL", c.P2PTerminal(), mustClient(t, testConfig(f)).P2PTerminal(), p2p)
	}
}
