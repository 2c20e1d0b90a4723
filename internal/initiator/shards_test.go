package initiator

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/epayflow/epayflow/internal/httpserver"
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
	urls := make(chan string, 1)
	rctx, stop := context.WithCancel(context.Background())
	rctx = httpserver.WithListenHook(rctx, func(u string) { urls <- u })
	done := make(chan error, 1)
	go func() { done <- Run(rctx, cfg, slog.New(slog.DiscardHandler)) }()
	t.Cleanup(func() {
		stop()
		select {
		case <-done:
		case <-time.After(30 * time.Second):
			t.Error("Run did not return within 30s")
		}
	})
	var base string
	select {
	case base = <-urls:
	case err := <-done:
		t.Fatalf("Run returned early: %v", err)
	case <-time.After(10 * time.Second):
		t.Fatal("not listening within 10s")
	}
	// the first look at EPAY_INBOX is made by then: the readiness probe makes another
	for deadline := time.Now().Add(2 * time.Second); time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
		if status(t, base+"/readyz", "") == http.StatusOK {
			t.Fatal("an initiator with 8 shards on an inbox of 16 is ready")
		}
	}
	req, _ := http.NewRequest(http.MethodPost, base+"/v1/payments", strings.NewReader(sourceRequest))
	req.Header.Set("Authorization", "Bearer "+testAPIKey)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusServiceUnavailable {
		t.Fatalf("POST /v1/payments with another shard count = %d %s, want 503", resp.StatusCode, body)
	}
	st, err := js.Stream(ctx, natsbus.StreamInbox)
	if err != nil {
		t.Fatal(err)
	}
	if info, err := st.Info(ctx); err != nil || info.State.Msgs != 0 {
		t.Fatalf("EPAY_INBOX holds %d messages (%v), want none", info.State.Msgs, err)
	}
}
