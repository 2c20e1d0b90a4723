package worker

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"time"

	"github.com/epayflow/epayflow/internal/bolt"
	"github.com/epayflow/epayflow/internal/epay"
	"github.com/epayflow/epayflow/internal/events"
	"github.com/epayflow/epayflow/internal/invoice"
)

// IdempotencyKeyHeader carries an operation's id: the same id again is the same
// operation, made once.
const IdempotencyKeyHeader = "Idempotency-Key"

// OperationRequest is the optional body of POST /v1/invoices/{invoiceId}/refund and
// /charge: the amount (absent: the whole, for a refund all that is left).
type OperationRequest struct {
	Amount *epay.Amount `json:"amount,omitempty"`
}

// OperationResponse is the answer of an operation: the operation as recorded and the
// invoice after it; Error says why an operation failed or was refused.
type OperationResponse struct {
	Error     string            `json:"error,omitempty"`
	Operation invoice.Operation `json:"operation"`
	Invoice   events.View       `json:"invoice"`
}

// operationCodes are the answers of the operation routes.
var operationCodes = []int{200, 400, 401, 403, 404, 409, 413, 422, 500, 502, 503}

// maxOperationBody bounds an operation's request body.
const maxOperationBody = 4 << 10

// operationHandler serves POST /v1/invoices/{invoiceId}/<typ> to keys of scope
// operate: 200 when ePay made the operation (or made it before, for the same
// Idempotency-Key), 422 when it was refused (by the invoice's rules, or by ePay), 409
// for an Idempotency-Key used for another operation, 503 while the outcome is not known.
func operationHandler(typ string, op *operator, keys []ReadKey, fwd *forwarder, log *slog.Logger) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		rd := reader(keys, r)
		switch {
		case rd == nil:
			w.Header().Set("WWW-Authenticate", `Bearer realm="epayflow worker API"`)
			writeError(w, http.StatusUnauthorized, "a key of scope operate is required: Authorization: Bearer <key> (WORKER_READ_KEYS)")
			return
		case rd.Scope != ScopeOperate:
			writeError(w, http.StatusForbidden, "the key "+rd.Name+" is of scope "+rd.Scope+"; operations need scope operate")
			return
		}
		id := r.PathValue("invoiceId")
		if err := epay.ValidateInvoiceID(id); err != nil {
			writeError(w, http.StatusBadRequest, err.Error())
			return
		}
		// the answer may come after the server's write timeout: an operation waits for ePay
		_ = http.NewResponseController(w).SetWriteDeadline(time.Now().Add(OperationBudget + 10*time.Second))
		opID, amount, body, status, msg := readOperation(w, r, typ)
		if status != 0 {
			writeError(w, status, msg)
			return
		}
		if fwd != nil && !fwd.local(id) {
			fwd.forward(w, r, id, body)
			return
		}
		if op == nil {
			writeError(w, http.StatusServiceUnavailable, "operations need ePay's API: the worker runs without it (EPAY_*)")
			return
		}
		inv, rec, err := op.operate(r.Context(), opRequest{InvoiceID: id, Type: typ, ID: opID, Amount: amount})
		writeOperation(w, r, log, inv, rec, err)
	}
}

// readOperation reads the Idempotency-Key and the body; status is 0 when both are good.
// body is the body as read, for a forward to the invoice's owner.
func readOperation(w http.ResponseWriter, r *http.Request, typ string) (id string, amount epay.Amount, body []byte, status int, msg string) {
	given := r.Header.Values(IdempotencyKeyHeader)
	if len(given) != 1 {
		return "", 0, nil, http.StatusBadRequest, "give the operation's id once, in the Idempotency-Key header"
	}
	if m := invoice.ValidOperationID(given[0]); m != "" {
		return "", 0, nil, http.StatusBadRequest, "invalid Idempotency-Key header: " + m
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxOperationBody))
	if err != nil {
		return "", 0, nil, http.StatusRequestEntityTooLarge, "the request body is larger than 4 KiB"
	}
	var req OperationRequest
	if len(bytes.TrimSpace(body)) > 0 {
		dec := json.NewDecoder(bytes.NewReader(body))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&req); err != nil || dec.More() {
			return "", 0, nil, http.StatusBadRequest, "the body must be {} or {\"amount\": <a positive amount>}"
		}
		if req.Amount == nil && nullAmount(body) {
			// refused, not read as no amount: a client's unset variable must not become
			// "all that is left"
			return "", 0, nil, http.StatusBadRequest, "amount is null: give a positive amount, or leave it out for the whole"
		}
	}
	if req.Amount != nil {
		switch {
		case typ == invoice.OpCancel:
			return "", 0, nil, http.StatusBadRequest, "a cancel releases the whole hold: it takes no amount"
		case *req.Amount <= 0 || *req.Amount > epay.MaxAmount:
			return "", 0, nil, http.StatusBadRequest, "amount must be positive and at most " + epay.MaxAmount.String()
		}
		amount = *req.Amount
	}
	return given[0], amount, body, 0, ""
}

// nullAmount says whether body (a valid operation body) gives "amount": null.
func nullAmount(body []byte) bool {
	var raw struct {
		Amount json.RawMessage `json:"amount"`
	}
	return json.Unmarshal(body, &raw) == nil && string(raw.Amount) == "null"
}

func writeOperation(w http.ResponseWriter, r *http.Request, log *slog.Logger, inv invoice.Invoice, rec invoice.Operation, err error) {
	status := http.StatusOK
	body := OperationResponse{Operation: rec, Invoice: events.NewView(inv)}
	switch {
	case errors.Is(err, errOpUnknownInvoice):
		writeError(w, http.StatusNotFound, "invoice "+inv.InvoiceID+" not found")
		return
	case errors.Is(err, errOpConflict):
		writeError(w, http.StatusConflict, err.Error()+": use a new key for a new operation")
		return
	case errors.Is(err, errOpRefused):
		writeError(w, http.StatusUnprocessableEntity, err.Error())
		return
	case errors.Is(err, errOpStatusUnavailable):
		log.Warn("operation not sent", "err", err)
		w.Header().Set("Retry-After", "5")
		writeError(w, http.StatusServiceUnavailable, "ePay's status of the payment could not be read, so nothing was sent to ePay; send it again with the same Idempotency-Key")
		return
	case errors.Is(err, errOpUnknownOutcome):
		log.Warn("operation outcome not known", "err", err)
		w.Header().Set("Retry-After", "5")
		writeError(w, http.StatusServiceUnavailable, "the operation's outcome is not known yet; send it again with the same Idempotency-Key")
		return
	case errors.Is(err, bolt.ErrNotFound):
		writeError(w, http.StatusNotFound, "invoice not found")
		return
	case err != nil:
		log.Error("operation", "err", err)
		w.Header().Set("Retry-After", "5")
		writeError(w, http.StatusServiceUnavailable, "the operation could not be recorded (message bus unavailable); send it again with the same Idempotency-Key")
		return
	case rec.State == invoice.OpFailed || rec.State == invoice.OpRefused:
		status, body.Error = http.StatusUnprocessableEntity, rec.Type+" "+rec.State+": "+rec.Message
	}
	log.Info("operation answered", "invoiceId", inv.InvoiceID, "operation", rec.ID, "type", rec.Type, "state", rec.State, "method", r.Method)
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(body)
}
