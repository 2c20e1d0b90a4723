package initiator

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/epayflow/epayflow/internal/epayapi"
)

// opWorker is the worker's operation API as the initiator sees it: it records what it
// is sent and answers with status and body.
type opWorker struct {
	*httptest.Server
	mu     sync.Mutex
	got    []string // "<path> <Authorization> <Idempotency-Key> <body>"
	status int
	body   string
}

func startOpWorker(t *testing.T, status int, body string) *opWorker {
	t.Helper()
	f := &opWorker{status: status, body: body}
	f.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		f.mu.Lock()
		f.got = append(f.got, r.Method+" "+r.URL.Path+" "+r.Header.Get("Authorization")+" "+r.Header.Get(IdempotencyKeyHeader)+" "+string(b))
		f.mu.Unlock()
		w.Header().Set("Retry-After", "5")
		w.WriteHeader(f.status)
		io.WriteString(w, f.body)
	}))
	t.Cleanup(f.Close)
	return f
}

func (f *opWorker) requests() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]string(nil), f.got...)
}

func TestOperationsGoToTheWorkerWithTheMerchantsOperationID(t *testing.T) {
	const answer = `{"operation":{"id":"refund-1","type":"refund","amount":30,"state":"succeeded"}}`
	worker := startOpWorker(t, 200, answer)
	e := startEnv(t, answerWith(200, tokenAnswer), true)
	cfg := e.cfg
	cfg.WorkerURL, cfg.WorkerKey = worker.URL, "worker-operate-key-0123456789"
	cfg.OperateKeys = []epayapi.Secret{testOperateKey}
	var logs bytes.Buffer
	srv := httptest.NewServer(NewHandler(e.svc, cfg, NewMetrics(nil), slog.New(slog.NewTextHandler(&logs, nil)), nil, nil))
	defer srv.Close()
	auth := "Bearer " + testOperateKey

	// refused before the worker is asked
	for name, c := range map[string]struct {
		path    string
		headers []string
		status  int
	}{
		"no API key":      {"/v1/invoices/100000000001/refund", []string{IdempotencyKeyHeader, "k-1"}, 401},
		"a wrong API key": {"/v1/invoices/100000000001/refund", []string{"Authorization", "Bearer nope-nope-nope", IdempotencyKeyHeader, "k-1"}, 401},
		// a key that starts payments (a checkout's) may not move money back
		"a payments-only API key": {"/v1/invoices/100000000001/refund", []string{"Authorization", "Bearer " + testAPIKey, IdempotencyKeyHeader, "k-1"}, 403},
		"no Idempotency-Key":      {"/v1/invoices/100000000001/refund", []string{"Authorization", auth}, 400},
		"a bad key":               {"/v1/invoices/100000000001/refund", []string{"Authorization", auth, IdempotencyKeyHeader, "a b"}, 400},
		"a malformed id":          {"/v1/invoices/12ab/refund", []string{"Authorization", auth, IdempotencyKeyHeader, "k-1"}, 400},
		"an unknown op":           {"/v1/invoices/100000000001/void", []string{"Authorization", auth, IdempotencyKeyHeader, "k-1"}, 404},
	} {
		if resp, body := call(t, http.MethodPost, srv.URL+c.path, `{"amount":30}`, c.headers...); resp.StatusCode != c.status {
			t.Errorf("%s: %d %s, want %d", name, resp.StatusCode, body, c.status)
		}
	}
	if n := len(worker.requests()); n != 0 {
		t.Fatalf("the worker was asked %d times", n)
	}
	for _, op := range []string{"charge", "cancel"} {
		if resp, body := call(t, http.MethodPost, srv.URL+"/v1/invoices/100000000001/"+op, "", "Authorization", "Bearer "+testAPIKey, IdempotencyKeyHeader, "k-1"); resp.StatusCode != 403 ||
			!strings.Contains(body, "INITIATOR_OPERATE_KEYS") {
			t.Errorf("%s with a payments-only key: %d %s, want 403 naming INITIATOR_OPERATE_KEYS", op, resp.StatusCode, body)
		}
	}

	for _, op := range operationRoutes {
		resp, body := call(t, http.MethodPost, srv.URL+"/v1/invoices/100000000001/"+op, `{"amount":30}`, "Authorization", auth, IdempotencyKeyHeader, "op-"+op)
		if resp.StatusCode != 200 || body != answer || resp.Header.Get("Retry-After") != "5" {
			t.Fatalf("%s: %d %s", op, resp.StatusCode, body)
		}
	}
	want := []string{
		"POST /v1/invoices/100000000001/refund Bearer worker-operate-key-0123456789 op-refund {\"amount\":30}",
		"POST /v1/invoices/100000000001/charge Bearer worker-operate-key-0123456789 op-charge {\"amount\":30}",
		"POST /v1/invoices/100000000001/cancel Bearer worker-operate-key-0123456789 op-cancel {\"amount\":30}",
	}
	if got := worker.requests(); strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Fatalf("the worker got\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}

	// each operation is logged with the key that asked for it, never the key itself
	sum := sha256.Sum256([]byte(testOperateKey))
	if !strings.Contains(logs.String(), "key_sha256="+hex.EncodeToString(sum[:4])) || strings.Contains(logs.String(), testOperateKey) {
		t.Errorf("logs do not name the operate key by its hash alone:\n%s", logs.String())
	}

	// a worker key that may not operate is the operator's mistake, not the merchant's
	worker.status, worker.body = 403, `{"error":"scope read"}`
	if resp, body := call(t, http.MethodPost, srv.URL+"/v1/invoices/100000000001/refund", "", "Authorization", auth, IdempotencyKeyHeader, "k-2"); resp.StatusCode != 502 ||
		!strings.Contains(body, "may not operate") {
		t.Fatalf("worker 403: %d %s, want 502", resp.StatusCode, body)
	}
}
