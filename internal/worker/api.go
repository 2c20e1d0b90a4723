package worker

import (
	"bufio"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"

	"github.com/epayflow/epayflow/internal/bolt"
	"github.com/epayflow/epayflow/internal/epay"
	"github.com/epayflow/epayflow/internal/events"
	"github.com/epayflow/epayflow/internal/invoice"
)

// InvoiceResponse is the body of GET /v1/invoices/{invoiceId}.
type InvoiceResponse struct {
	events.View
	History []bolt.HistoryEntry `json:"history"`
}

// maxHistoryReads bounds the reads of whole histories served at once. An invoice may hold
// hundreds of callbacks of up to 64 KiB each (its buyer can send them with its
// secret_hash), each one masked in turn: unbounded, a few parallel reads of such an
// invoice took the worker's memory (review of session 28).
const maxHistoryReads = 4

// invoiceHandler serves GET /v1/invoices/{invoiceId} to the readers of keys: 401
// without a valid key, then 200 with the invoice and its history (personal data masked
// unless the reader's scope is pii), 400 for a malformed id or ?history= other than
// "none" or "all" (the default), 404 for an unknown invoice. With ?history=none the
// history is not read and the answer has none. An invoice of a shard this worker does
// not own is read from its owner (fwd). The history is written an entry at a time, and
// at most maxHistoryReads reads of one run at once; the others wait for a turn while
// their caller does.
func invoiceHandler(store *bolt.Store, keys []ReadKey, fwd *forwarder, log *slog.Logger) http.HandlerFunc {
	turns := make(chan struct{}, maxHistoryReads)
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
		withHistory := true
		switch h := r.URL.Query().Get("history"); h {
		case "", "all":
		case "none":
			withHistory = false
		default:
			writeError(w, http.StatusBadRequest, `history must be "none" or "all"`)
			return
		}
		if fwd != nil && !fwd.local(id) {
			fwd.forward(w, r, id, nil)
			return
		}
		if withHistory {
			select {
			case turns <- struct{}{}:
				defer func() { <-turns }()
			case <-r.Context().Done():
				return // the caller left while waiting
			}
		}
		var (
			inv  invoice.Invoice
			hist []bolt.HistoryEntry
			err  error
		)
		if withHistory {
			inv, hist, err = store.Get(id)
		} else {
			inv, err = store.Invoice(id)
		}
		switch {
		case errors.Is(err, bolt.ErrNotFound):
			writeError(w, http.StatusNotFound, "invoice "+id+" not found")
			return
		case err != nil:
			log.Error("read invoice", "invoice_id", id, "err", err)
			writeError(w, http.StatusInternalServerError, "cannot read the invoice")
			return
		}
		log.Debug("invoice read", "invoice_id", id, "reader", rd.Name, "scope", rd.Scope, "history", withHistory)
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Cache-Control", "no-store")
		view, _ := json.Marshal(events.NewView(inv))
		if !withHistory {
			w.Write(append(view, '\n'))
			return
		}
		// {<the view's fields>,"history":[<entry>,...]}, an entry at a time
		bw := bufio.NewWriterSize(w, 32<<10)
		bw.Write(view[:len(view)-1])
		bw.WriteString(`,"history":[`)
		for i := range hist {
			if r.Context().Err() != nil {
				return // the caller left: the rest is not masked for nobody
			}
			e := hist[i] // stored verbatim, shown without what could sign a forgery
			e.Body = epay.RedactSecretHash(e.Body)
			if rd.Scope != ScopePII {
				e.Body = epay.MaskPersonal(e.Body)
			}
			b, err := json.Marshal(e)
			if err != nil {
				log.Error("encode a history entry", "invoice_id", id, "err", err)
				panic(http.ErrAbortHandler) // a broken answer, never a well-formed one without the entry
			}
			if i > 0 {
				bw.WriteByte(',')
			}
			bw.Write(b)
			hist[i] = bolt.HistoryEntry{} // its body is garbage from here
		}
		bw.WriteString("]}\n")
		bw.Flush()
	}
}

func writeError(w http.ResponseWriter, status int, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(map[string]string{"error": msg})
}
