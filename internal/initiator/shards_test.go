package initiator

import (
	"context"
	"net/http"
	"testing"
	"time"

	"github.com/epayflow/epayflow/internal/natsbus"
	"github.com/epayflow/epayflow/internal/natsembed/natstest"
)

// An initiator configured with another shard count than the one EPAY_INBOX records
// would publish invoice.created where the worker dead-letters it (and a replay sends it
// back to the same shard): it is not ready, a payment is refused with 503, and nothing
// reaches the inbox.
func TestAnInitiatorWithAnotherShardCountThanTheInboxsRecordsNoPayment(t *testing.T) {
	srv := natstest.Start(t)
	js := natstest.JetStream(t, srv.URL())
	streams := natsbus.DefaultStreamsConfig()
	streams.Shards = 16 // as the worker records its EPAY_SHARDS
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := natsbus.EnsureAll(ctx, js, nil, streams); err != nil {
		t.Fatal(err)
	}
	fake := startFakeEPay(t, answerWith(200, tokenAnswer))
	cfg := testConfig(t, fake.URL)
	cfg.NATSURL, cfg.PublicURL, cfg.Shards = srv.URL(), "", 8
	base, _ := startRun(t, cfg)
	// the first look at EPAY_INBOX is made by then: the readiness probe makes another
	for deadline := time.Now().Add(2 * time.Second); time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
		if status(t, base+"/readyz", "") == http.StatusOK {
			t.Fatal("an initiator with 8 shards on an inbox of 16 is ready")
		}
	}
	if code, body := postPayment(t, base, sourceRequest); code != http.StatusServiceUnavailable {
		t.Fatalf("POST /v1/payments with another shard count = %d %s, want 503", code, body)
	}
	st, err := js.Stream(ctx, natsbus.StreamInbox)
	if err != nil {
		t.Fatal(err)
	}
	if info, err := st.Info(ctx); err != nil || info.State.Msgs != 0 {
		t.Fatalf("EPAY_INBOX holds %d messages (%v), want none", info.State.Msgs, err)
	}
}
