package webhooks_test

import (
	"context"
	"encoding/json"
	"net/http"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/epayflow/epayflow/internal/contracttest"
	"github.com/epayflow/epayflow/internal/webhooks"
)

// TestEveryAnswerIsWhatTheOpenAPIDocumentSays: the running service answers every route,
// and each status an endpoint's life and a client's mistakes produce, only as
// api/openapi/webhooks.yaml says; a request the service refuses is one the document
// refuses too.
func TestEveryAnswerIsWhatTheOpenAPIDocumentSays(t *testing.T) {
	s := startStack(t, testConfig())
	doc := contracttest.OpenAPI(t, "webhooks")
	call := func(wantValid bool, method, path, body string, key bool) (int, []byte) {
		t.Helper()
		req, _ := http.NewRequest(method, s.api+path, nil)
		if key {
			req.Header.Set("Authorization", "Bearer "+apiKey)
		}
		if body != "" {
			req.Header.Set("Content-Type", "application/json")
		}
		resp, raw, reqErr := doc.Call(t, &http.Client{Timeout: 10 * time.Second}, req, []byte(body))
		if wantValid && reqErr != nil {
			t.Errorf("the document refuses %s %s %s: %v", method, path, body, reqErr)
		}
		if !wantValid && reqErr == nil {
			t.Errorf("the document allows %s %s %s, which the service answered %d", method, path, body, resp.StatusCode)
		}
		return resp.StatusCode, raw
	}
	var up atomic.Bool
	rc := newReceiver(t, func(int, request) int {
		if up.Load() {
			return http.StatusOK
		}
		return http.StatusServiceUnavailable
	})
	const eps = "/v1/webhooks/endpoints"

	if code, _ := call(false, "POST", eps, `{"url":"`+rc.URL+`"}`, false); code != http.StatusUnauthorized {
		t.Errorf("no key: %d, want 401", code)
	}
	if code, _ := call(false, "POST", eps, `{"url":"ftp://shop.example/hook"}`, true); code != http.StatusBadRequest {
		t.Errorf("ftp URL: %d, want 400", code)
	}
	if code, _ := call(false, "POST", eps, `{"url":"https://shop.example/hook","secret":"mine"}`, true); code != http.StatusBadRequest {
		t.Errorf("unknown field: %d, want 400", code)
	}
	code, raw := call(true, "POST", eps, `{"url":"`+rc.URL+`/hook","eventTypes":["kz.epay.payment.failed"],"description":"shop"}`, true)
	var ep struct{ ID string }
	if code != http.StatusCreated || json.Unmarshal(raw, &ep) != nil {
		t.Fatalf("register: %d %s", code, raw)
	}
	one := eps + "/" + ep.ID
	call(true, "GET", eps, "", true)
	call(true, "GET", one, "", true)
	call(true, "GET", one+"/attempts", "", true) // none yet: an empty list
	if code, _ := call(true, "GET", eps+"/ep_0000000000000000", "", true); code != http.StatusNotFound {
		t.Errorf("unknown endpoint: %d, want 404", code)
	}
	call(true, "POST", one+"/rotate-secret", "", true)

	s.publish(t, "ev-c1", "failed", "INV-C")
	var dl struct {
		DeadLetters []struct{ Seq uint64 }
	}
	waitFor(t, "the dead letter", func() bool {
		_, raw := call(true, "GET", one+"/dead-letters", "", true)
		return json.Unmarshal(raw, &dl) == nil && len(dl.DeadLetters) == 1
	})
	call(true, "GET", one+"/attempts", "", true)
	replay := one + "/dead-letters/" + strconv.FormatUint(dl.DeadLetters[0].Seq, 10) + "/replay"
	if code, _ := call(true, "POST", replay, "", true); code != http.StatusBadGateway {
		t.Errorf("replay to a failing endpoint: %d, want 502", code)
	}
	up.Store(true)
	if code, _ := call(true, "POST", replay, "", true); code != http.StatusOK {
		t.Errorf("replay: %d, want 200", code)
	}
	if code, _ := call(true, "POST", replay, "", true); code != http.StatusNotFound {
		t.Errorf("replay of a replayed dead letter: %d, want 404", code)
	}
	// a dead letter stranded without its event (gone from the stream before delivery):
	// listed, refused for replay and discarded as the document says
	store := s.openStore(t)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := store.PutDead(ctx, ep.ID, webhooks.DeadLetter{Seq: 9, InvoiceID: "INV-S", FailedAt: time.Now().UTC(),
		LastError: "stranded in the queue and gone from PAYMENT_EVENTS"}); err != nil {
		t.Fatal(err)
	}
	call(true, "GET", one+"/dead-letters", "", true)
	if code, _ := call(true, "POST", one+"/dead-letters/9/replay", "", true); code != http.StatusConflict {
		t.Errorf("replay of a stranded dead letter: %d, want 409", code)
	}
	if code, _ := call(true, "DELETE", one+"/dead-letters/9", "", true); code != http.StatusNoContent {
		t.Errorf("discard of a stranded dead letter: %d, want 204", code)
	}
	if code, _ := call(true, "DELETE", one+"/dead-letters/9", "", true); code != http.StatusNotFound {
		t.Errorf("discard of a discarded dead letter: %d, want 404", code)
	}
	call(true, "GET", one+"/attempts", "", true) // with the discarded one's attempt
	if code, _ := call(true, "DELETE", one, "", true); code != http.StatusNoContent {
		t.Errorf("delete: %d, want 204", code)
	}
	call(true, "GET", "/livez", "", false)
	call(true, "GET", "/readyz", "", false)
	doc.Covered(t, "createEndpoint 201", "createEndpoint 400", "createEndpoint 401", "listEndpoints 200",
		"getEndpoint 200", "getEndpoint 404", "deleteEndpoint 204", "rotateSecret 200", "listAttempts 200",
		"listDeadLetters 200", "replayDeadLetter 200", "replayDeadLetter 502", "replayDeadLetter 404", "replayDeadLetter 409",
		"discardDeadLetter 204", "discardDeadLetter 404", "livez 200", "readyz 200")
}
