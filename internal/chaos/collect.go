package chaos

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	bbolt "go.etcd.io/bbolt"

	"github.com/epayflow/epayflow/internal/epay"
	"github.com/epayflow/epayflow/internal/inbox"
	"github.com/epayflow/epayflow/internal/invoice"
)

// streamMsg is one message read back from a stream.
type streamMsg struct {
	Seq     uint64
	Subject string
	Header  nats.Header
	Data    []byte
}

// readStream reads every message of a stream, in order. What a cluster answers while it
// elects a leader after the faults (no responders, JetStream unavailable, a timeout) is
// waited out, a second apart, and the read starts again, within 2 minutes in all.
func readStream(ctx context.Context, js jetstream.JetStream, name string) ([]streamMsg, error) {
	ctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	for {
		out, err := readStreamOnce(ctx, js, name)
		if err == nil || !transient(err) {
			return out, err
		}
		select {
		case <-ctx.Done():
			return out, fmt.Errorf("%w (waited for it until %w)", err, ctx.Err())
		case <-time.After(time.Second):
		}
	}
}

// transient says whether err is what a NATS cluster answers while it elects a leader.
func transient(err error) bool {
	var apiErr *jetstream.APIError
	return errors.Is(err, nats.ErrNoResponders) || errors.Is(err, nats.ErrTimeout) ||
		errors.Is(err, jetstream.ErrJetStreamNotEnabled) || (errors.As(err, &apiErr) && apiErr.Code == 503)
}

func readStreamOnce(ctx context.Context, js jetstream.JetStream, name string) ([]streamMsg, error) {
	st, err := js.Stream(ctx, name)
	if err != nil {
		return nil, fmt.Errorf("stream %s: %w", name, err)
	}
	info, err := st.Info(ctx)
	if err != nil {
		return nil, fmt.Errorf("stream %s: %w", name, err)
	}
	if info.State.Msgs == 0 {
		return nil, nil
	}
	cons, err := st.OrderedConsumer(ctx, jetstream.OrderedConsumerConfig{})
	if err != nil {
		return nil, fmt.Errorf("stream %s: %w", name, err)
	}
	out := make([]streamMsg, 0, info.State.Msgs)
	for ctx.Err() == nil {
		batch, err := cons.Fetch(1000, jetstream.FetchMaxWait(2*time.Second))
		if err != nil {
			return out, fmt.Errorf("stream %s: %w", name, err)
		}
		for m := range batch.Messages() {
			meta, err := m.Metadata()
			if err != nil {
				return out, err
			}
			out = append(out, streamMsg{Seq: meta.Sequence.Stream, Subject: m.Subject(), Header: m.Headers(), Data: m.Data()})
			if meta.Sequence.Stream >= info.State.LastSeq {
				return out, nil
			}
		}
		if err := batch.Error(); err != nil {
			return out, fmt.Errorf("stream %s: %w", name, err)
		}
	}
	return out, fmt.Errorf("stream %s: read %d of %d messages: %w", name, len(out), info.State.Msgs, ctx.Err())
}

// parseInbox turns the inbox into the oracle's messages, in stream order, and reports
// what does not belong there (an invoice.created not signed with keys among it).
func parseInbox(msgs []streamMsg, keys *epay.Keyring, shards int) (out []inboxMsg, problems []string) {
	for _, sm := range msgs {
		var m inboxMsg
		switch {
		case strings.HasSuffix(sm.Subject, "."+inbox.KindInvoice):
			var c invoice.Created
			if err := json.Unmarshal(sm.Data, &c); err != nil {
				problems = append(problems, fmt.Sprintf("inbox seq %d: invoice.created: %v", sm.Seq, err))
				continue
			}
			m = inboxMsg{ID: inbox.CreatedMsgID(c.InvoiceID), InvoiceID: c.InvoiceID, Kind: kindCreated,
				Amount: c.Amount, Currency: c.Currency, Terminal: c.Terminal}
			if err := inbox.CheckCreated(keys, sm.Subject, sm.Data, sm.Header.Get(inbox.HeaderCreatedSignature)); err != nil {
				problems = append(problems, fmt.Sprintf("inbox seq %d: %v", sm.Seq, err))
			}
		case strings.HasSuffix(sm.Subject, "."+inbox.KindStatus):
			// the worker's checker publishes what ePay's status API answered
			var b struct {
				InvoiceID string         `json:"invoiceId"`
				Status    invoice.Status `json:"status"`
			}
			if err := json.Unmarshal(sm.Data, &b); err != nil {
				problems = append(problems, fmt.Sprintf("inbox seq %d: status: %v", sm.Seq, err))
				continue
			}
			st := b.Status
			m = inboxMsg{ID: inbox.StatusMsgID(b.InvoiceID, st.Check, st.ResultCode, st.StatusName, st.TransactionID),
				InvoiceID: b.InvoiceID, Kind: kindStatus, TxID: st.TransactionID, Amount: st.Amount, Currency: st.Currency,
				Terminal: st.Terminal, ReasonCode: st.ReasonCode, Check: st.Check, ResultCode: st.ResultCode,
				StatusName: st.StatusName, GiveUp: st.GiveUp}
		default:
			cb, err := epay.DecodeCallback(sm.Data)
			if err != nil {
				problems = append(problems, fmt.Sprintf("inbox seq %d: callback: %v", sm.Seq, err))
				continue
			}
			m = inboxMsg{ID: inbox.CallbackMsgID(cb.InvoiceID, cb.ID, cb.Code), InvoiceID: cb.InvoiceID, Kind: kindFailure,
				TxID: cb.ID, Amount: cb.Amount, Currency: cb.Currency, Terminal: cb.Terminal, ReasonCode: cb.ReasonCode,
				Verified: receiptOf(sm.Header).Verified}
			if cb.Succeeded() {
				m.Kind = kindSuccess
			}
		}
		m.Seq = sm.Seq
		wantMsgID := m.ID
		if m.Kind == kindCreated {
			wantMsgID = inbox.CreatedNatsMsgID(keys, m.InvoiceID)
		}
		got := sm.Header.Get(nats.MsgIdHdr)
		if i := strings.LastIndexByte(got, ':'); m.Kind == kindStatus && i >= 0 && got[:i] == wantMsgID {
			got = got[:i] // the content id, ':' and a token of the workers' status key (StatusSigner.NatsMsgID)
		}
		if got != wantMsgID {
			problems = append(problems, fmt.Sprintf("inbox seq %d: Nats-Msg-Id %q, content says %q", sm.Seq, sm.Header.Get(nats.MsgIdHdr), wantMsgID))
		}
		kind := inbox.KindPostlink
		switch m.Kind {
		case kindCreated:
			kind = inbox.KindInvoice
		case kindStatus:
			kind = inbox.KindStatus
		}
		if want := inbox.Subject(inbox.Shard(m.InvoiceID, shards), kind); sm.Subject != want {
			problems = append(problems, fmt.Sprintf("inbox seq %d: subject %s, want %s", sm.Seq, sm.Subject, want))
		}
		out = append(out, m)
	}
	return out, problems
}

// streamEvent is a PAYMENT_EVENTS message.
type streamEvent struct {
	Seq       uint64
	MsgID     string // Nats-Msg-Id
	ID        string // CloudEvents id
	Type      string // the last token of the subject
	InvoiceID string // CloudEvents subject
}

func parseEvents(msgs []streamMsg) (out []streamEvent, problems []string) {
	for _, sm := range msgs {
		var ce struct {
			ID      string `json:"id"`
			Type    string `json:"type"`
			Subject string `json:"subject"`
		}
		if err := json.Unmarshal(sm.Data, &ce); err != nil {
			problems = append(problems, fmt.Sprintf("event seq %d: %v", sm.Seq, err))
			continue
		}
		typ := strings.TrimPrefix(sm.Subject, "payments.")
		if !strings.HasSuffix(ce.Type, "."+typ) {
			problems = append(problems, fmt.Sprintf("event seq %d: subject %s, type %s", sm.Seq, sm.Subject, ce.Type))
		}
		out = append(out, streamEvent{Seq: sm.Seq, MsgID: sm.Header.Get(nats.MsgIdHdr), ID: ce.ID, Type: typ, InvoiceID: ce.Subject})
	}
	return out, problems
}

// readKey is the chaos stack's key of the worker's read API (WORKER_READ_KEYS).
const readKey = "chaos-read-api-key-0001"

// apiInvoice is what GET /v1/invoices/{id} says.
type apiInvoice struct {
	Status  int
	State   string `json:"state"`
	Version int    `json:"version"`
	History []struct {
		MessageID string   `json:"messageId"`
		Events    []string `json:"events"`
	} `json:"history"`
}

// readAPI asks the worker about every invoice, with a few requests at a time.
func readAPI(ctx context.Context, workerURL string, ids []string) (map[string]apiInvoice, error) {
	client := &http.Client{Timeout: 10 * time.Second}
	out := make(map[string]apiInvoice, len(ids))
	var mu sync.Mutex
	var firstErr error
	work := make(chan string)
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			for id := range work {
				inv, err := getInvoice(ctx, client, workerURL, id)
				mu.Lock()
				if err != nil && firstErr == nil {
					firstErr = err
				}
				out[id] = inv
				mu.Unlock()
			}
		})
	}
	for _, id := range ids {
		work <- id
	}
	close(work)
	wg.Wait()
	return out, firstErr
}

// getInvoice reads one invoice as a client would: a 503 (its shard between owners, a
// worker killed at the end of the load still holding its lease) is asked again after its
// Retry-After, for up to a minute; what it answers then is the answer.
func getInvoice(ctx context.Context, client *http.Client, workerURL, id string) (apiInvoice, error) {
	deadline := time.Now().Add(time.Minute)
	for {
		inv, retryAfter, err := getInvoiceOnce(ctx, client, workerURL, id)
		if err != nil || inv.Status != http.StatusServiceUnavailable || time.Now().After(deadline) {
			return inv, err
		}
		select {
		case <-ctx.Done():
			return inv, ctx.Err()
		case <-time.After(retryAfter):
		}
	}
}

func getInvoiceOnce(ctx context.Context, client *http.Client, workerURL, id string) (apiInvoice, time.Duration, error) {
	var inv apiInvoice
	retryAfter := time.Second
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, workerURL+"/v1/invoices/"+id, nil)
	req.Header.Set("Authorization", "Bearer "+readKey)
	resp, err := client.Do(req)
	if err != nil {
		return inv, retryAfter, err
	}
	defer resp.Body.Close()
	inv.Status = resp.StatusCode
	if n, err := strconv.Atoi(resp.Header.Get("Retry-After")); err == nil && n > 0 {
		retryAfter = min(time.Duration(n)*time.Second, 5*time.Second)
	}
	if resp.StatusCode != http.StatusOK {
		return inv, retryAfter, nil
	}
	return inv, retryAfter, json.NewDecoder(resp.Body).Decode(&inv)
}

// boltInvoice is an invoice as the worker's bbolt file holds it.
type boltInvoice struct {
	State   string            `json:"state"`
	Version int               `json:"version"`
	Applied []string          `json:"applied"`
	Pending []json.RawMessage `json:"pending"`
	History []boltHistory     `json:"-"` // in the order applied
	// HistoryKeys are the keys of its history entries (schema 3: the entry's sequence, 8
	// bytes big-endian), after those under its id (<invoiceId> 0x00 <seq>) of older files.
	HistoryKeys []uint64 `json:"h"`
	// fromRecord: read from EPAY_STATE, not a worker's file: no history, the applied ids
	// say what was applied.
	fromRecord bool
}

type boltHistory struct {
	MessageID  string    `json:"messageId"`
	Kind       string    `json:"kind"`
	AppliedAt  time.Time `json:"appliedAt"`
	StateAfter string    `json:"stateAfter"`
	Events     []string  `json:"events"`
}

// restored says whether part of the invoice's history was taken from the changelog (its
// worker's file was lost): the history then starts with that restore.
func (inv *boltInvoice) restored() bool {
	return inv.fromRecord || slices.ContainsFunc(inv.History, func(h boltHistory) bool { return h.Kind == "restored" })
}

// appliedIDs are the ids of the messages applied to the invoice, in the order applied:
// its history's, or where the history was restored, the invoice's own list of applied
// ids (its dedupe record, carried by the changelog).
func (inv *boltInvoice) appliedIDs() []string {
	if inv.restored() {
		return inv.Applied
	}
	ids := make([]string, 0, len(inv.History))
	for _, h := range inv.History {
		ids = append(ids, h.MessageID)
	}
	return ids
}

// boltView is what the chaos test reads from the worker's file.
type boltView struct {
	Invoices map[string]*boltInvoice
	Seen     int
	Outbox   int
	// OutboxIDs are the event ids of the entries left in the outbox.
	OutboxIDs []string
}

// readBolt opens the worker's file read-only (the worker must be stopped: it holds the
// lock) and reads invoices (with the ids applied to each), history and the outbox.
func readBolt(path string) (boltView, error) {
	v := boltView{Invoices: map[string]*boltInvoice{}}
	db, err := bbolt.Open(path, 0o400, &bbolt.Options{ReadOnly: true, Timeout: 5 * time.Second})
	if err != nil {
		return v, fmt.Errorf("open %s read-only: %w", path, err)
	}
	defer db.Close()
	err = db.View(func(tx *bbolt.Tx) error {
		for _, name := range []string{"invoices", "history", "outbox"} {
			if tx.Bucket([]byte(name)) == nil {
				return fmt.Errorf("%s: no bucket %s", path, name)
			}
		}
		if err := tx.Bucket([]byte("invoices")).ForEach(func(k, val []byte) error {
			var inv boltInvoice
			if err := json.Unmarshal(val, &inv); err != nil {
				return fmt.Errorf("invoice %s: %w", k, err)
			}
			v.Invoices[string(k)] = &inv
			return nil
		}); err != nil {
			return err
		}
		hist := tx.Bucket([]byte("history"))
		listed := 0
		if err := hist.ForEach(func(k, val []byte) error {
			if len(k) == 8 && k[0] == 0 { // an entry its invoice lists
				listed++
				return nil
			}
			id, _, ok := bytes.Cut(k, []byte{0})
			inv := v.Invoices[string(id)]
			if !ok || inv == nil {
				return fmt.Errorf("history key %q has no invoice", k)
			}
			var h boltHistory
			if err := json.Unmarshal(val, &h); err != nil {
				return fmt.Errorf("history %q: %w", k, err)
			}
			inv.History = append(inv.History, h) // keys sort by invoice, then sequence
			return nil
		}); err != nil {
			return err
		}
		for id, inv := range v.Invoices {
			for _, seq := range inv.HistoryKeys {
				val := hist.Get(binary.BigEndian.AppendUint64(nil, seq))
				if val == nil {
					return fmt.Errorf("invoice %s lists history entry %d, which the file lacks", id, seq)
				}
				var h boltHistory
				if err := json.Unmarshal(val, &h); err != nil {
					return fmt.Errorf("history %d of %s: %w", seq, id, err)
				}
				inv.History = append(inv.History, h)
				listed--
			}
		}
		if listed != 0 {
			return fmt.Errorf("%d history entries no invoice lists, or listed twice", listed)
		}
		for _, inv := range v.Invoices { // each invoice's applied ids: the store's one dedupe record
			v.Seen += len(inv.Applied)
		}
		return tx.Bucket([]byte("outbox")).ForEach(func(k, val []byte) error {
			var e struct {
				ID string `json:"id"`
			}
			if err := json.Unmarshal(val, &e); err != nil {
				return fmt.Errorf("outbox %x: %w", k, err)
			}
			v.Outbox++
			v.OutboxIDs = append(v.OutboxIDs, e.ID)
			return nil
		})
	})
	return v, err
}

// receiptOf is the ingest's receipt of a stored callback (zero when it has none).
func receiptOf(h nats.Header) inbox.Receipt {
	r, _ := inbox.ReceiptOf(h)
	return r
}
