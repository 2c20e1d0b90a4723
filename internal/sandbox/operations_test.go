package sandbox_test

import (
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/epayflow/epayflow/internal/sandbox"
)

// opResult is an operation's answer: its HTTP status, and for a refusal ePay's documented
// body {"code": 100, "message": ...} (code a number), the rule read from the message.
type opResult struct {
	status int
	code   int
	rule   string
}

// refused is the answer to an operation a rule refuses: 400, code 100, the rule.
func refused(rule string) opResult { return opResult{400, 100, rule} }

func operate(t *testing.T, h *harness, token, path string) opResult {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, h.url+"/operation/"+path, nil)
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusBadRequest {
		return opResult{status: resp.StatusCode}
	}
	var body struct {
		Code    *int    `json:"code"`
		Message *string `json:"message"`
	}
	if err := json.Unmarshal(raw, &body); err != nil || body.Code == nil || body.Message == nil {
		t.Fatalf("%s: 400 %s, want ePay's {\"code\": <number>, \"message\": <string>} (%v)", path, raw, err)
	}
	got := opResult{resp.StatusCode, *body.Code, *body.Message}
	for _, rule := range rules {
		if strings.Contains(got.rule, rule) {
			got.rule = rule
		}
	}
	return got
}

// rules are the sandbox's refusals, as its messages say them.
var rules = []string{"not allowed in this status", "above the authorised amount", "below the minimum",
	"above what is left", "externalID already made", "invalid amount", "another terminal", "transaction not found"}

func TestOperationRules(t *testing.T) {
	type step struct {
		op     string // path after /operation/{id}
		want   opResult
		status string // statusName after the step
	}
	ok := opResult{status: 200}
	cases := []struct {
		name    string
		twoStep bool
		steps   []step
	}{
		{"one-step payment refunds in parts then in full", false, []step{
			{"/refund?amount=30&externalID=r1", ok, "CHARGE"},
			{"/refund?amount=30&externalID=r1", refused("externalID already made"), "CHARGE"},
			{"/refund?amount=80", refused("above what is left"), "CHARGE"},
			{"/refund?amount=70", ok, "REFUND"},
			{"/refund?amount=10", refused("not allowed in this status"), "REFUND"},
		}},
		{"refund under 10 KZT is refused", false, []step{
			{"/refund?amount=9.99", refused("below the minimum"), "CHARGE"},
			{"/refund?amount=10", ok, "CHARGE"},
		}},
		{"refund with no amount returns what is left", false, []step{
			{"/refund?amount=25", ok, "CHARGE"},
			{"/refund", ok, "REFUND"},
		}},
		{"one-step payment cannot be charged or cancelled", false, []step{
			{"/charge", refused("not allowed in this status"), "CHARGE"},
			{"/cancel", refused("not allowed in this status"), "CHARGE"},
		}},
		{"two-step payment is charged then refunded", true, []step{
			{"/refund?amount=10", refused("not allowed in this status"), "AUTH"},
			{"/charge?amount=101", refused("above the authorised amount"), "AUTH"},
			{"/charge?amount=abc", refused("invalid amount"), "AUTH"},
			{"/charge?amount=60", ok, "CHARGE"},
			{"/cancel", refused("not allowed in this status"), "CHARGE"},
			{"/charge", refused("not allowed in this status"), "CHARGE"},
			{"/refund?amount=61", refused("above what is left"), "CHARGE"},
			{"/refund?amount=60", ok, "REFUND"},
		}},
		{"two-step payment is cancelled", true, []step{
			{"/cancel", ok, "CANCEL"},
			{"/charge", refused("not allowed in this status"), "CANCEL"},
			{"/refund", refused("not allowed in this status"), "CANCEL"},
		}},
		{"unknown operation", false, []step{{"/void", opResult{status: 404}, "CHARGE"}}},
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
	if got := operate(t, h, svc, "00000000-0000-4000-8000-000000000000/refund"); got != refused("transaction not found") {
		t.Errorf("unknown transaction: %+v, want 400 code 100 transaction not found", got)
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
		if got := operate(t, h, svc, id+op); got != (refused("not allowed in this status")) {
			t.Errorf("%s on REJECT: %+v, want 400 code 100, not allowed in this status", op, got)
		}
	}
}
