package peer

import (
	"bytes"
	"context"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/epayflow/epayflow/internal/epay"
	"github.com/epayflow/epayflow/internal/epaytest"
	"github.com/epayflow/epayflow/internal/proctest"
)

const testKeys = "T:dev-only-peer-test-signing-key"

// mustStartPostgres starts a private PostgreSQL with the peer's tables, stopped at the
// test's end. Without the binaries the test is skipped (make bench says so the same way).
func mustStartPostgres(t *testing.T) *Server {
	t.Helper()
	bin, err := FindBinaries()
	if err != nil {
		t.Skip(err)
	}
	port, err := proctest.FreePort()
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	s, err := Start(ctx, bin, port)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := s.Stop(); err != nil {
			t.Error(err)
		}
	})
	if err := Setup(ctx, s.DSN); err != nil {
		t.Fatal(err)
	}
	return s
}

// The peer stores a callback once however often it comes, moves its invoice to paid
// in the same transaction, keeps a later failure as a callback without unpaying the
// invoice, and refuses a callback whose secret_hash does not verify, storing nothing.
func TestPeerStoresEachCallbackOnceWithItsInvoiceState(t *testing.T) {
	pg := mustStartPostgres(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	keys, err := epay.ParseKeyring(testKeys)
	if err != nil {
		t.Fatal(err)
	}
	if err := CreateInvoices(ctx, pg.DSN, []string{"000000001", "000000002"}); err != nil {
		t.Fatal(err)
	}
	pool, err := pgxpool.New(ctx, pg.DSN)
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()
	srv := httptest.NewServer(NewHandler(keys, pool))
	defer srv.Close()
	post := func(body []byte) int {
		t.Helper()
		res, err := http.Post(srv.URL, "application/json", bytes.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		return res.StatusCode
	}
	opts := epaytest.TriggerOptions{InvoiceID: "000000001", Amount: 100, Keys: keys}
	_, paid := epaytest.SignedCallback(opts, 0)
	_, failed := epaytest.SignedCallback(opts, 454)
	for i, body := range [][]byte{paid, paid, failed} {
		if got := post(body); got != http.StatusOK {
			t.Fatalf("post %d: status %d, want 200", i, got)
		}
	}
	forged := opts
	forged.InvoiceID, forged.WrongHash = "000000002", true
	_, body := epaytest.SignedCallback(forged, 0)
	if got := post(body); got != http.StatusUnauthorized {
		t.Fatalf("forged callback: status %d, want 401", got)
	}
	c, err := Count(ctx, pg.DSN)
	if err != nil {
		t.Fatal(err)
	}
	if want := (Counts{Callbacks: 2, Paid: 1}); c != want {
		t.Fatalf("stored %+v, want %+v", c, want)
	}
}
