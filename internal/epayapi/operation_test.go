package epayapi

import (
	"context"
	"errors"
	"net/http"
	"testing"

	"github.com/epayflow/epayflow/internal/epay"
)

func TestOperateSendsEachOperationAsEPayDocumentsIt(t *testing.T) {
	amt := epay.Amount(30000)
	tests := []struct {
		name string
		req  OperationRequest
		want string // path and query
	}{
		{"full refund", OperationRequest{Op: OpRefund, TransactionID: "tx-1"}, "/operation/tx-1/refund"},
		{"partial refund with the merchant's id", OperationRequest{Op: OpRefund, TransactionID: "tx-1", Amount: &amt, ExternalID: "op-42"},
			"/operation/tx-1/refund?amount=300&externalID=op-42"},
		{"partial charge", OperationRequest{Op: OpCharge, TransactionID: "tx-1", Amount: &amt, ExternalID: "ignored"}, "/operation/tx-1/charge?amount=300"},
		{"cancel", OperationRequest{Op: OpCancel, TransactionID: "tx-1", Amount: &amt}, "/operation/tx-1/cancel"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var got string
			f := startFake(t, byPath(answer(200, serviceTokenBody), func(w http.ResponseWriter, r *http.Request) {
				got = r.URL.RequestURI()
				w.WriteHeader(http.StatusOK)
			}))
			if err := mustClient(t, testConfig(f)).Operate(context.Background(), tt.req); err != nil {
				t.Fatal(err)
			}
			reqs := f.requests()
			if len(reqs) != 2 || reqs[0].Path != "/oauth2/token" || reqs[1].Method != http.MethodPost || reqs[1].Auth != "Bearer SERVICE_TOKEN_42" {
				t.Fatalf("requests %+v, want a fresh service token then the operation", reqs)
			}
			if got != tt.want {
				t.Fatalf("operation sent to %s, want %s", got, tt.want)
			}
		})
	}
}

func TestOperateReadsEPaysDocumentedErrorAsRefused(t *testing.T) {
	f := startFake(t, byPath(answer(200, serviceTokenBody), answer(400, string(readDoc(t, "operation-error.json")))))
	err := mustClient(t, testConfig(f)).Operate(context.Background(), OperationRequest{Op: OpCancel, TransactionID: "tx-1"})
	var api *APIError
	if !errors.Is(err, ErrOperationRefused) || !errors.As(err, &api) || api.Status != 400 || api.Code != "100" {
		t.Fatalf("err %v (%+v), want ErrOperationRefused with ePay's code 100", err, api)
	}
}

// The cancel page prints ePay's error document under "Response Http status 200": such a
// body under a 2xx is not taken for "made" (nor for "not made": its outcome is unknown,
// and the worker asks the status). An empty body, or one with code 0, is success.
func TestOperateReadsEPaysErrorDocumentUnderA2xxAsUnclear(t *testing.T) {
	for _, c := range []struct {
		body    string
		unclear bool
	}{
		{string(readDoc(t, "operation-error.json")), true},
		{`{"code":"2092","message":"declined"}`, true},
		{``, false},
		{`{}`, false},
		{`{"code":0,"message":"OK"}`, false},
		{`{"code":null}`, false},
		{`OK`, false},
	} {
		f := startFake(t, byPath(answer(200, serviceTokenBody), answer(200, c.body)))
		err := mustClient(t, testConfig(f)).Operate(context.Background(), OperationRequest{Op: OpCancel, TransactionID: "tx-1"})
		if got := errors.Is(err, ErrOperationUnclear); got != c.unclear || !c.unclear && err != nil || errors.Is(err, ErrOperationRefused) {
			t.Errorf("200 %q: err %v; want unclear %v", c.body, err, c.unclear)
		}
	}
}

func TestOperateNeverRetriesAnOperationWhoseOutcomeIsUnknown(t *testing.T) {
	f := startFake(t, byPath(answer(200, serviceTokenBody), answer(502, `bad gateway`)))
	err := mustClient(t, testConfig(f)).Operate(context.Background(), OperationRequest{Op: OpRefund, TransactionID: "tx-1"})
	if !errors.Is(err, ErrEPayUnavailable) || errors.Is(err, ErrOperationRefused) {
		t.Fatalf("err %v, want ErrEPayUnavailable (outcome unknown)", err)
	}
	if n := len(f.requests()); n != 2 {
		t.Fatalf("%d requests, want the token and one operation (MaxAttempts is 3)", n)
	}
}

func TestOperateRefusesWhatCannotBeSent(t *testing.T) {
	f := startFake(t, answer(200, serviceTokenBody))
	c := mustClient(t, testConfig(f))
	zero := epay.Amount(0)
	for _, req := range []OperationRequest{
		{Op: "void", TransactionID: "tx-1"},
		{Op: OpRefund, TransactionID: "a/b"},
		{Op: OpRefund, TransactionID: ""},
		{Op: OpCharge, TransactionID: "tx-1", Amount: &zero},
	} {
		if err := c.Operate(context.Background(), req); !errors.Is(err, ErrRequest) {
			t.Errorf("%+v: err %v, want ErrRequest", req, err)
		}
	}
	if n := len(f.requests()); n != 0 {
		t.Fatalf("%d requests sent, want none", n)
	}
}
