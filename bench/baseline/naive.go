package baseline

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"io"
	"net/http"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/epayflow/epayflow/internal/inbox"
)

// NaiveSubject is where Naive publishes: a subject of EPAY_INBOX, so its messages go
// to the very stream (and stream settings) the ingest's go to.
var NaiveSubject = inbox.Subject(0, inbox.KindPostlink)

// Naive serves on addr, until ctx ends, the HTTP-to-JetStream bridge anyone would write
// first: read the body, publish it with one sync JetStream publish whose Nats-Msg-Id is
// the hex SHA-256 of the body (so a resent body is stored once), answer 200 after the
// PubAck, 503 when there is none. No decoding, no verification, no metrics, no headers:
// what the ingest is held against (issue 17: the ingest at 0.95x of it or better).
func Naive(ctx context.Context, addr, natsURL string, onListen func(string)) error {
	nc, err := nats.Connect(natsURL, nats.Name("naive-http"))
	if err != nil {
		return err
	}
	defer nc.Drain()
	js, err := jetstream.New(nc)
	if err != nil {
		return err
	}
	return serve(ctx, addr, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, err := io.ReadAll(r.Body)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		sum := sha256.Sum256(body)
		pctx, cancel := context.WithTimeout(r.Context(), 2*time.Second)
		defer cancel()
		if _, err := js.Publish(pctx, NaiveSubject, body, jetstream.WithMsgID(hex.EncodeToString(sum[:]))); err != nil {
			http.Error(w, err.Error(), http.StatusServiceUnavailable)
			return
		}
		w.Write([]byte("OK"))
	}), onListen)
}
