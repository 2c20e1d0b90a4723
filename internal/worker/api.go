package worker

import (
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"

	"github.com/epayflow/epayflow/internal/bolt"
	"github.com/epayflow/epayflow/internal/epay"
	"github.com/epayflow/epayflow/internal/events"
)

// InvoiceResponse is the body of GET /v1/invoices/{invoiceId}.
type InvoiceResponse struct {
	events.View
	History []bolt.HistoryEntry `json:"history"`
}

// invoiceHandler serves GET /v1/invoices/{invoiceId} to the readers of keys: 401
// without a valid key, then 200 with the invoice and its history (personal data masked
// unless the reader's scope is pii), 400 for a malformed id, 404 for an unknown invoice.
// An invoice of a shard this worker does not own is read from its owner (fwd).
func invoiceHandler(store *bolt.Store, keys []ReadKey, fwd *forwarder, log *slog.Logger) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		rd := reader(keys, r)
		if rd == nil {
			w.Header().Set("WWW-Authenticate", `Bearer realm="epayflow worker read API"`)
			writeError(w, http.StatusUnauthorized, "a read API key is required: Authorization: Bearer <key> (WORKER_READ_KEYS)")
			return
		}
		id := r.PathValue("invoiceId")
		if err := epay.ValidateInvoiceID(id); err != nil {
			writeError(w, http.StatusBadRequest, err.Error())
			return
		}
		if fwd != nil && !fwd.local(id) {
			fwd.forward(w, r, id, nil)
			return
		}
		inv, hist, err := store.Get(id)
		switch {
		case errors.Is(err, bolt.ErrNotFound):
			writeError(w, http.StatusNotFound, "invoice "+id+" not found")
			return
		case err != nil:
			log.Error("read invoice", "invoice_id", id, "err", err)
			writeError(w, http.StatusInternalServerError, "cannot read the invoice")
			return
		}
		if hist == nil {
			hist = []bolt.HistoryEntry{}
		}
		for i := range hist { // stored verbatim, shown without what could sign a forgery
			hist[i].Body = epay.RedactSecretHash(hist[i].Body)
			if rd.Scope != ScopePII {
				hist[i].Body = epay.MaskPersonal(hist[i].Body)
			}
		}
		log.Debug("invoice read", "invoice_id", id, "reader", rd.Name, "scope", rd.Scope)
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Cache-Control", "no-store")
		json.NewEncoder(w).Encode(InvoiceResponse{View: events.NewView(inv), History: hist})
	}
}

func writeError(w http.ResponseWriter, status int, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(map[string]string{"error": msg})
}
