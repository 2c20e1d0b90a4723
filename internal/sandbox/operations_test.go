package sandbox_test

import (
	"encoding/json"
	"net/http"
	"testing"

	"github.com/epayflow/epayflow/internal/sandbox"
)

type opResult struct {
	status int
	code   string
}

func operate(t *testing.T, h *harness, token, path string) opResult {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, h.url+"/operation/"+path, nil)
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var body struct{ Code, Message string }
	json.NewDecoder(resp.Body).Decode(&body)
	if resp.StatusCode != 200 && body.Message == "" {
		t.Errorf("%s: %d without a message", path, resp.StatusCode)
	}
	return opResult{resp.StatusCode, body.Code}
}

func TestOperationRules(t *testing.T) {
	type step struct {
		op     string // path after /operation/{id}
		want   opResult
		status string // statusName after the step
	}
	ok := opResult{200, ""}
	cases := []struct {
		name    string
		twoStep bool
		steps   []step
	}{
		{"one-step payment refunds in parts then in full", false, []step{
			{"/refund?amount=30&externalID=r1", ok, "CHARGE"},
			{"/refund?amount=30&externalID=r1", opResult{400, "duplicate_external_id"}, "CHARGE"},
			{"/refund?amount=80", opResult{400, "amount_too_large"}, "CHARGE"},
			{"/refund?amount=70", ok, "REFUND"},
			{"/refund?amount=10", opResult{400, "wrong_status"}, "REFUND"},
		}},
		{"refund under 10 KZT is refused", false, []step{
			{"/refund?amount=9.99", opResult{400, "amount_too_small"}, "CHARGE"},
			{"/refund?amount=10", ok, "CHARGE"},
		}},
		{"refund with no amount returns what is left", false, []step{
			{"/refund?amount=25", ok, "CHARGE"},
			{"/refund", ok, "REFUND"},
		}},
		{"one-step payment cannot be charged or cancelled", false, []step{
			{"/charge", opResult{400, "wrong_status"}, "CHARGE"},
			{"/cancel", opResult{400, "wrong_status"}, "CHARGE"},
		}},
		{"two-step payment is charged then refunded", true, []step{
			{"/refund?amount=10", opResult{400, "wrong_status"}, "AUTH"},
			{"/charge?amount=101", opResult{400, "amount_too_large"}, "AUTH"},
			{"/charge?amount=abc", opResult{400, "invalid_amount"}, "AUTH"},
			{"/charge?amount=60", ok, "CHARGE"},
			{"/cancel", opResult{400, "wrong_status"}, "CHARGE"},
			{"/charge", opResult{400, "wrong_status"}, "CHARGE"},
			{"/refund?amount=61", opResult{400, "amount_too_large"}, "CHARGE"},
			{"/refund?amount=60", ok, "REFUND"},
		}},
		{"two-step payment is cancelled", true, []step{
			{"/cancel", ok, "CANCEL"},
			{"/charge", opResult{400, "wrong_status"}, "CANCEL"},
			{"/refund", opResult{400, "wrong_status"}, "CANCEL"},
		}},
		{"unknown operation", false, []step{{"/void", opResult{404, "not_found"}, "CHARGE"}}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			h := startSandbox(t, func(cfg *sandbox.Config) { cfg.TwoStep = c.twoStep })
			rc := newReceiver(t)
			h.pay(t, "140000001", rc.URL+"/post", "", "4405639704015096", "01/27", "321")
			svc := h.mustToken(t, serviceForm())["access_token"].(string)
			_, body := statusOf(t, h, svc, "140000001")
			id := body["transaction"].(map[string]any)["id"].(string)
			for i, s := range c.steps {
				if got := operate(t, h, svc, id+s.op); got != s.want {
					t.Fatalf("step %d %s: got %+v, want %+v", i+1, s.op, got, s.want)
				}
				_, body := statusOf(t, h, svc, "140000001")
				if got := body["transaction"].(map[string]any)["statusName"]; got != s.status {
					t.Fatalf("step %d %s: statusName %v, want %s", i+1, s.op, got, s.status)
				}
			}
		})
	}
}

func TestOperationsNeedAServiceTokenAndAKnownTransaction(t *testing.T) {
	h := startSandbox(t, nil)
	svc := h.mustToken(t, serviceForm())["access_token"].(string)
	if got := operate(t, h, "NOPE", "x/charge"); got.status != 401 {
		t.Errorf("unknown token: %+v, want 401", got)
	}
	if got := operate(t, h, svc, "00000000-0000-4000-8000-000000000000/refund"); got != (opResult{404, "not_found"}) {
		t.Errorf("unknown transaction: %+v, want 404 not_found", got)
	}
}

func TestDeclinedTransactionCannotBeOperated(t *testing.T) {
	h := startSandbox(t, nil)
	rc := newReceiver(t)
	h.pay(t, "150000001", rc.URL+"/post", "", "4003032704547597", "01/27", "123")
	svc := h.mustToken(t, serviceForm())["access_token"].(string)
	_, body := statusOf(t, h, svc, "150000001")
	id := body["transaction"].(map[string]any)["id"].(string)
	for _, op := range []string{"/charge", "/cancel", "/refund"} {
		if got := operate(t, h, svc, id+op); got != (opResult{400, "wrong_status"}) {
			t.Errorf("%s on REJECT: %+v, want 400 wrong_status", op, got)
		}
	}
}
