package peer

import (
	"context"
	"fmt"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

// schema is the merchant's two tables: the invoices its shop created, and every
// callback ePay sent, once (its key is what makes a callback a duplicate: the invoice,
// ePay's transaction id and the code, as epayflow's Nats-Msg-Id).
const schema = `
CREATE TABLE IF NOT EXISTS invoices (
	id         text PRIMARY KEY,
	state      text NOT NULL DEFAULT 'pending',
	created_at timestamptz NOT NULL DEFAULT now(),
	updated_at timestamptz NOT NULL DEFAULT now()
);
CREATE TABLE IF NOT EXISTS callbacks (
	invoice_id     text NOT NULL,
	transaction_id text NOT NULL,
	code           text NOT NULL,
	body           text NOT NULL,
	received_at    timestamptz NOT NULL DEFAULT now(),
	PRIMARY KEY (invoice_id, transaction_id, code)
)`

// The statements of one callback, sent together as one pgx batch: one round trip,
// executed as one transaction (a batch with no transaction statements runs in an
// implicit one), committed, with synchronous_commit on, once its WAL is on disk. The
// update is idempotent, so a duplicate callback changes nothing: a paid invoice stays
// paid, a failure after a success is kept as a callback only.
const (
	insertCallback = `INSERT INTO callbacks (invoice_id, transaction_id, code, body) VALUES ($1, $2, $3, $4) ON CONFLICT DO NOTHING`
	updateInvoice  = `UPDATE invoices SET state = $2, updated_at = now() WHERE id = $1 AND state <> 'paid' AND state <> $2`
)

// Setup creates the tables on the server at dsn.
func Setup(ctx context.Context, dsn string) error {
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		return err
	}
	defer conn.Close(ctx)
	_, err = conn.Exec(ctx, schema)
	return err
}

// CreateInvoices adds invoices ids in state pending (the shop created them before the
// payments), with one COPY.
func CreateInvoices(ctx context.Context, dsn string, ids []string) error {
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		return err
	}
	defer conn.Close(ctx)
	rows := make([][]any, len(ids))
	for i, id := range ids {
		rows[i] = []any{id}
	}
	n, err := conn.CopyFrom(ctx, pgx.Identifier{"invoices"}, []string{"id"}, pgx.CopyFromRows(rows))
	if err == nil && n != int64(len(ids)) {
		err = fmt.Errorf("copied %d invoices of %d", n, len(ids))
	}
	return err
}

// Counts are what the tables hold.
type Counts struct {
	Callbacks, Paid, Failed int64
}

// Count reads how many callbacks are stored and how many invoices are paid and failed.
func Count(ctx context.Context, dsn string) (Counts, error) {
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		return Counts{}, err
	}
	defer conn.Close(ctx)
	var c Counts
	err = conn.QueryRow(ctx, `SELECT (SELECT count(*) FROM callbacks),
		(SELECT count(*) FROM invoices WHERE state = 'paid'), (SELECT count(*) FROM invoices WHERE state = 'failed')`).
		Scan(&c.Callbacks, &c.Paid, &c.Failed)
	return c, err
}

// store writes callbacks through a pool of connections.
type store struct{ pool *pgxpool.Pool }

// save stores one callback and moves its invoice to state, in one transaction.
func (s store) save(ctx context.Context, invoiceID, transactionID, code, state string, body []byte) error {
	b := &pgx.Batch{}
	b.Queue(insertCallback, invoiceID, transactionID, code, string(body))
	b.Queue(updateInvoice, invoiceID, state)
	return s.pool.SendBatch(ctx, b).Close()
}
