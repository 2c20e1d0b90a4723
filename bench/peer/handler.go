package peer

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"strings"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/epayflow/epayflow/internal/epay"
)

// maxBody bounds a callback's body, as the ingest does.
const maxBody = 64 << 10

// Handler serves ePay's callbacks as a merchant's own endpoint would: it decodes and
// verifies the callback with the same code as epayflow's ingest (so the two differ in
// where the callback goes, not in what is checked), stores it and its invoice's new
// state in one PostgreSQL transaction, and answers 200 once that transaction is
// committed, 400/401 for a callback it refuses, 503 when the database fails.
type Handler struct {
	keys *epay.Keyring
	db   store
}

// NewHandler returns a handler writing through pool.
func NewHandler(keys *epay.Keyring, pool *pgxpool.Pool) *Handler {
	return &Handler{keys: keys, db: store{pool: pool}}
}

func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost {
		http.Error(w, "use POST", http.StatusMethodNotAllowed)
		return
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxBody))
	if err != nil {
		http.Error(w, "could not read the body", http.StatusBadRequest)
		return
	}
	cb, err := epay.DecodeCallback(body)
	if err == nil {
		err = cb.Validate()
	}
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	if err := h.keys.Verify(cb.Terminal, cb.InvoiceID, cb.SecretHash); err != nil {
		http.Error(w, err.Error(), http.StatusUnauthorized)
		return
	}
	state := "failed"
	if cb.Succeeded() {
		state = "paid"
	}
	ctx, cancel := context.WithTimeout(r.Context(), 5*time.Second)
	defer cancel()
	if err := h.db.save(ctx, cb.InvoiceID, cb.ID, strings.ToLower(cb.Code), state, body); err != nil {
		http.Error(w, "callback not stored, try again", http.StatusServiceUnavailable)
		return
	}
	w.Write([]byte("OK"))
}

// Serve serves the handler on addr until ctx ends, with a pool of at most conns
// connections to the server at dsn. onListen gets the base URL once the listener is bound.
func Serve(ctx context.Context, addr, dsn string, conns int, keys *epay.Keyring, onListen func(string)) error {
	cfg, err := pgxpool.ParseConfig(dsn)
	if err != nil {
		return err
	}
	cfg.MaxConns, cfg.MinConns = int32(conns), int32(conns)
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return err
	}
	defer pool.Close()
	if err := pool.Ping(ctx); err != nil {
		return err
	}
	l, err := net.Listen("tcp", addr)
	if err != nil {
		return err
	}
	srv := &http.Server{Handler: NewHandler(keys, pool), ReadHeaderTimeout: 5 * time.Second}
	if onListen != nil {
		onListen("http://" + l.Addr().String())
	}
	go func() {
		<-ctx.Done()
		sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		srv.Shutdown(sctx)
	}()
	if err := srv.Serve(l); !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}
