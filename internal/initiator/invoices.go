package initiator

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/epayflow/epayflow/internal/epay"
)

// InvoiceView is what GET /v1/invoices/{invoiceId} answers: only what the return pages
// show. Ids are sequential and so guessable: the customer's email, phone and card stay
// with the worker.
type InvoiceView struct {
	InvoiceID  string          `json:"invoiceId"`
	State      string          `json:"state"`
	ReasonCode json.RawMessage `json:"reasonCode,omitempty"`
	Reason     json.RawMessage `json:"reason,omitempty"`
}

// invoices forwards GET /v1/invoices/{invoiceId} to the worker's read API.
type invoices struct {
	workerURL string
	client    *http.Client
}

func (h *invoices) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("invoiceId")
	if err := epay.ValidateInvoiceID(id); err != nil {
		writeJSON(w, http.StatusBadRequest, errorBody{Error: err.Error()})
		return
	}
	if h.workerURL == "" {
		writeJSON(w, http.StatusServiceUnavailable, errorBody{Error: "the worker's read API is not configured (WORKER_URL)"})
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), 3*time.Second)
	defer cancel()
	target := strings.TrimSuffix(h.workerURL, "/") + "/v1/invoices/" + url.PathEscape(id)
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, target, nil)
	if err != nil {
		writeJSON(w, http.StatusInternalServerError, errorBody{Error: "internal error"})
		return
	}
	req.Header.Set("Accept", "application/json")
	resp, err := h.client.Do(req)
	if err != nil {
		writeJSON(w, http.StatusBadGateway, errorBody{Error: "the worker did not answer"})
		return
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	switch {
	case resp.StatusCode == http.StatusNotFound:
		writeJSON(w, http.StatusNotFound, errorBody{Error: "unknown invoice"})
		return
	case resp.StatusCode != http.StatusOK:
		writeJSON(w, http.StatusBadGateway, errorBody{Error: "the worker answered " + resp.Status})
		return
	}
	var view InvoiceView
	if err := json.Unmarshal(body, &view); err != nil || view.State == "" {
		writeJSON(w, http.StatusBadGateway, errorBody{Error: "the worker's answer has no state"})
		return
	}
	view.InvoiceID = id
	writeJSON(w, http.StatusOK, view)
}
