package initiator

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/epayflow/epayflow/internal/epay"
)

// Operations a merchant may ask of a paid invoice: POST /v1/invoices/{invoiceId}/<op>.
var operationRoutes = []string{"refund", "charge", "cancel"}

// operationCodes are the answers of the operation routes.
var operationCodes = []int{200, 400, 401, 403, 404, 409, 413, 422, 499, 500, 502, 503}

// operationWait is how long an operation's answer is waited for: a worker's budget
// (worker.OperationBudget, 2 min) and a forward's margin.
const operationWait = 2*time.Minute + 15*time.Second

// operations serves POST /v1/invoices/{invoiceId}/refund, /charge and /cancel for a
// merchant with a key of INITIATOR_OPERATE_KEYS (a key of INITIATOR_API_KEYS gets 403:
// it only creates payments and reads invoices). The worker makes the operation (it owns the invoice and
// its history): the request goes to its API with the initiator's worker key (scope
// operate), with the Idempotency-Key (the operation's id) and the body as given, and
// its answer comes back as it is.
type operations struct {
	op        string
	keys      apiKeys // every key: 401 for another
	operate   apiKeys // the keys that may operate: 403 for the others
	workerURL string
	workerKey string
	client    *http.Client
	log       *slog.Logger
}

func (h *operations) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if !h.keys.authorized(r) {
		unauthorized(w)
		return
	}
	if !h.operate.authorized(r) {
		writeJSON(w, http.StatusForbidden, errorBody{Error: "this API key creates payments and reads invoices only: " + h.op + " takes a key of INITIATOR_OPERATE_KEYS"})
		return
	}
	id := r.PathValue("invoiceId")
	if err := epay.ValidateInvoiceID(id); err != nil {
		writeJSON(w, http.StatusBadRequest, errorBody{Error: err.Error()})
		return
	}
	keys := r.Header.Values(IdempotencyKeyHeader)
	if len(keys) != 1 || ValidIdempotencyKey(keys[0]) != "" {
		writeJSON(w, http.StatusBadRequest, errorBody{Error: "give the operation's id once in the Idempotency-Key header (1 to 128 of A-Z a-z 0-9 - _ . :): the same id again is the same operation, made once"})
		return
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, 4<<10))
	if err != nil {
		writeJSON(w, http.StatusRequestEntityTooLarge, errorBody{Error: "request body is larger than 4 KiB"})
		return
	}
	if h.workerURL == "" {
		writeJSON(w, http.StatusServiceUnavailable, errorBody{Error: "the worker's API is not configured (WORKER_URL)"})
		return
	}
	// a worker answers an operation within its budget (worker.OperationBudget, 2 min: it
	// waits for ePay); the answer is written past the server's write timeout
	ctx, cancel := context.WithTimeout(r.Context(), operationWait)
	_ = http.NewResponseController(w).SetWriteDeadline(time.Now().Add(operationWait + 10*time.Second))
	defer cancel()
	target := strings.TrimSuffix(h.workerURL, "/") + "/v1/invoices/" + url.PathEscape(id) + "/" + h.op
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, target, bytes.NewReader(body))
	if err != nil {
		writeJSON(w, http.StatusInternalServerError, errorBody{Error: "internal error"})
		return
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set(IdempotencyKeyHeader, keys[0])
	if h.workerKey != "" {
		req.Header.Set("Authorization", "Bearer "+h.workerKey)
	}
	resp, err := h.client.Do(req)
	if err != nil {
		status := http.StatusBadGateway
		if r.Context().Err() != nil {
			status = 499
		}
		h.log.Warn("operation not forwarded", "invoiceId", id, "op", h.op, "err", err)
		writeJSON(w, status, errorBody{Error: "the worker did not answer; send it again with the same Idempotency-Key"})
		return
	}
	defer resp.Body.Close()
	answer, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	switch resp.StatusCode {
	case http.StatusUnauthorized, http.StatusForbidden:
		h.log.Error("the worker refused the initiator's key for an operation: INITIATOR_WORKER_KEY needs scope operate", "status", resp.StatusCode)
		writeJSON(w, http.StatusBadGateway, errorBody{Error: "operations are not enabled: the initiator's worker key may not operate"})
		return
	}
	h.log.Info("operation", "invoiceId", id, "op", h.op, "status", resp.StatusCode, "key_sha256", keyID(r))
	if v := resp.Header.Get("Retry-After"); v != "" {
		w.Header().Set("Retry-After", v)
	}
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(resp.StatusCode)
	w.Write(answer)
}
