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
// show (state, reason, amount). The customer's email, phone and card stay with the worker.
type InvoiceView struct {
	InvoiceID  string          `json:"invoiceId"`
	State      string          `json:"state"`
	Amount     epay.Amount     `json:"amount,omitempty"`
	Currency   string          `json:"currency,omitempty"`
	ReasonCode json.RawMessage `json:"reasonCode,omitempty"`
	Reason     json.RawMessage `json:"reason,omitempty"`
}

// invoices forwards GET /v1/invoices/{invoiceId} to the worker's read API. The caller
// is the buyer's return page with the invoice's token (?token=), or a merchant with an
// API key; anyone else gets 404 (no or a wrong token) or 401 (an unknown API key),
// before the worker is asked, so the answer says nothing about which invoices exist.
type invoices struct {
	svc       *Service
	keys      apiKeys
	workerURL string
	workerKey string // sent as Authorization: Bearer to the worker, if set
	client    *http.Client
}

func (h *invoices) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("invoiceId")
	if err := epay.ValidateInvoiceID(id); err != nil {
		writeJSON(w, http.StatusBadRequest, errorBody{Error: err.Error()})
		return
	}
	switch {
	case r.Header.Get("Authorization") != "":
		if !h.keys.authorized(r) {
			unauthorized(w)
			return
		}
	case !h.svc.validReturnToken(id, r.URL.Query().Get("token")):
		writeJSON(w, http.StatusNotFound, errorBody{Error: "unknown invoice"})
		return
	}
	if h.workerURL == "" {
		writeJSON(w, http.StatusServiceUnavailable, errorBody{Error: "the worker's read API is not configured (WORKER_URL)"})
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), 3*time.Second)
	defer cancel()
	// the view only: the history is never shown here, and reading it is the worker's
	// costliest answer (an invoice's buyer can fill it with callbacks)
	target := strings.TrimSuffix(h.workerURL, "/") + "/v1/invoices/" + url.PathEscape(id) + "?history=none"
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, target, nil)
	if err != nil {
		writeJSON(w, http.StatusInternalServerError, errorBody{Error: "internal error"})
		return
	}
	req.Header.Set("Accept", "application/json")
	if h.workerKey != "" {
		req.Header.Set("Authorization", "Bearer "+h.workerKey)
	}
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
