package chaos

import (
	"context"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"

	"github.com/epayflow/epayflow/internal/proctest"
)

// The webhooks verdict catches each way an endpoint can be failed: an event lost, one it
// should not have had, an invoice's events taken out of order, a bad signature, a dead
// letter; and it does not count a redelivery the receiver deduplicates by id.
func TestWebhooksVerdictCatchesLossesExtrasAndDisorder(t *testing.T) {
	var dead atomic.Pointer[string]
	none := `{"deadLetters":[]}`
	dead.Store(&none)
	api := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.Write([]byte(*dead.Load())) }))
	defer api.Close()
	events := []hookEvent{{"a-1", "kz.epay.payment.failed", "a"}, {"a-2", "kz.epay.payment.paid", "a"}, {"b-1", "kz.epay.payment.paid", "b"}}
	judge := func(types []string, order []string, attempts map[string]int, badSig int) EndpointDelivery {
		rc := &hookReceiver{name: "r", types: types, id: "ep_0000000000000001", taken: map[string]bool{}, attempts: attempts, order: order, badSig: badSig}
		for _, id := range order {
			rc.taken[id] = true
		}
		h := &hooks{svc: &svc{url: api.URL, p: &proctest.Proc{}}, receivers: []*hookReceiver{rc}}
		return h.verdict(context.Background(), events)[0]
	}
	paid := []string{"kz.epay.payment.paid"}
	for _, tt := range []struct {
		name string
		got  EndpointDelivery
		ok   bool
	}{
		{"all, in order, one redelivered", judge(nil, []string{"a-1", "b-1", "a-2"}, map[string]int{"a-1": 2, "a-2": 1, "b-1": 1}, 0), true},
		{"filtered: paid only", judge(paid, []string{"a-2", "b-1"}, nil, 0), true},
		{"one lost", judge(nil, []string{"a-1", "b-1"}, nil, 0), false},
		{"one it should not have had", judge(paid, []string{"a-1", "a-2", "b-1"}, nil, 0), false},
		{"an invoice out of order", judge(nil, []string{"a-2", "a-1", "b-1"}, nil, 0), false},
		{"a bad signature", judge(nil, []string{"a-1", "a-2", "b-1"}, nil, 1), false},
	} {
		if tt.got.ok() != tt.ok {
			t.Errorf("%s: %s: ok %v, want %v", tt.name, tt.got, tt.got.ok(), tt.ok)
		}
	}
	one := `{"deadLetters":[{"seq":3}]}`
	dead.Store(&one)
	if d := judge(nil, []string{"a-1", "a-2", "b-1"}, nil, 0); d.ok() || d.Dead != 1 {
		t.Errorf("a dead letter: %s", d)
	}
	if d := judge(nil, []string{"a-1", "b-1", "a-2"}, map[string]int{"a-1": 3, "a-2": 1, "b-1": 1}, 0); d.Requests != 5 || d.Distinct != 3 {
		t.Errorf("requests and distinct ids: %s, want requests=5 distinct=3", d)
	}
}
