package worker

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/epayflow/epayflow/internal/bolt"
	"github.com/epayflow/epayflow/internal/contracttest"
	"github.com/epayflow/epayflow/internal/epay"
	"github.com/epayflow/epayflow/internal/inbox"
	"github.com/epayflow/epayflow/internal/invoice"
)

// twoWorkers starts two workers on the same NATS, one owning the even shards and one
// the odd ones.
func (e *env) twoWorkers() (even, odd *running) {
	e.t.Helper()
	ce, co := e.operatorConfig(), e.operatorConfig()
	ce.DB, co.DB = e.db+".even", e.db+".odd"
	ce.OwnShards, co.OwnShards = nil, nil
	for s := range inbox.DefaultShards {
		if s%2 == 0 {
			ce.OwnShards = append(ce.OwnShards, s)
		} else {
			co.OwnShards = append(co.OwnShards, s)
		}
	}
	return e.start(ce), e.start(co)
}

// payInvoice publishes invoice.created for id and ePay's success sample for it: the
// invoice ends paid when amount is the sample's 100.00, in review otherwise.
func (e *env) payInvoice(id string, amount epay.Amount) {
	e.t.Helper()
	e.publishCreated(createdFor(id, amount))
	e.publish(callbackMsg(e.t, []byte(strings.Replace(string(sample(e.t, "success.json")), "191111111", id, 1)), true, ""))
}

// listPage reads one page through base with the read key, checked against worker.yaml.
func listPage(t *testing.T, doc *contracttest.Doc, base string, q url.Values) InvoiceList {
	t.Helper()
	code, body := call(t, doc, http.MethodGet, base+"/v1/invoices?"+q.Encode(), testSupportKey, "")
	var page InvoiceList
	if err := json.Unmarshal(body, &page); code != http.StatusOK || err != nil {
		t.Fatalf("list %s: %d %s (%v)", q.Encode(), code, body, err)
	}
	return page
}

// listAll pages through everything q matches; the ids in order and the last cursor.
func listAll(t *testing.T, doc *contracttest.Doc, base string, q url.Values) ([]string, string) {
	t.Helper()
	var ids []string
	for {
		page := listPage(t, doc, base, q)
		for _, v := range page.Invoices {
			ids = append(ids, v.InvoiceID)
		}
		q.Set("cursor", page.NextCursor)
		if !page.HasMore {
			return ids, page.NextCursor
		}
	}
}

// A reconciliation job pages through the invoices in review from any worker, whoever
// owns their shards, while new ones arrive: every invoice in review comes exactly once
// across the pages (and no other), the pages alternate between the two workers, and a
// job that keeps the last cursor sees the new ones when it asks again.
func TestListPagesCoverEveryInvoiceOnceWhileNewOnesArrive(t *testing.T) {
	e := newEnv(t)
	even, odd := e.twoWorkers()
	doc := contracttest.OpenAPI(t, "worker")
	review := map[string]bool{}
	for i := range 80 {
		id := strconv.Itoa(192000000 + i)
		if i%2 == 0 {
			e.payInvoice(id, 1) // a mismatch: review
			review[id] = true
		} else {
			e.payInvoice(id, 10000)
		}
	}
	waitFor(t, 20*time.Second, "40 invoices in review listed", func() bool {
		ids, _ := listAll(t, doc, even.url, url.Values{"state": {"review"}, "limit": {"500"}})
		return len(ids) == len(review)
	})
	since := time.Now().UTC()

	var wg sync.WaitGroup
	var mu sync.Mutex
	arriving := map[string]bool{}
	b, err := inbox.NewBuilder(inbox.DefaultShards)
	if err != nil {
		t.Fatal(err)
	}
	wg.Go(func() { // published as payInvoice does, but errors reported, not fatal, off the test's goroutine
		for i := range 30 {
			id := strconv.Itoa(193000000 + i)
			mu.Lock()
			arriving[id] = true
			mu.Unlock()
			created, err := b.Created(createdFor(id, 1), testKeys, time.Now())
			if err != nil {
				t.Error(err)
				return
			}
			cb, err := epay.DecodeCallback(signed(t, []byte(strings.Replace(string(sample(t, "success.json")), "191111111", id, 1))))
			if err != nil {
				t.Error(err)
				return
			}
			for _, m := range []*nats.Msg{created, b.Callback(cb, inbox.Receipt{At: time.Now(), Verified: true})} {
				ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
				_, err := e.js.PublishMsg(ctx, m)
				cancel()
				if err != nil {
					t.Errorf("publish %s: %v", m.Subject, err)
					return
				}
			}
		}
	})
	seen := map[string]int{}
	q := url.Values{"state": {"review"}, "limit": {"7"}}
	pages, done := 0, false
	deadline := time.Now().Add(30 * time.Second)
	for !done {
		if time.Now().After(deadline) {
			t.Fatalf("after %d pages, %d invoices seen of %d in review and %d arriving", pages, len(seen), len(review), len(arriving))
		}
		base := even.url
		if pages%2 == 1 {
			base = odd.url
		}
		page := listPage(t, doc, base, q)
		pages++
		if len(page.Invoices) > 7 {
			t.Fatalf("page of %d invoices, limit 7", len(page.Invoices))
		}
		for _, v := range page.Invoices {
			if v.State != invoice.StateReview {
				t.Errorf("invoice %s in %s listed for state=review", v.InvoiceID, v.State)
			}
			seen[v.InvoiceID]++
		}
		q.Set("cursor", page.NextCursor)
		if !page.HasMore {
			wg.Wait() // every new one published; the job asks again later from its cursor
			mu.Lock()
			done = len(seen) == len(review)+len(arriving)
			mu.Unlock()
		}
	}
	wg.Wait()
	for id, n := range seen {
		if n != 1 {
			t.Errorf("invoice %s listed %d times", id, n)
		}
		if !review[id] && !arriving[id] {
			t.Errorf("invoice %s listed, but it is not in review", id)
		}
	}
	// since: the ones that changed after it only
	ids, _ := listAll(t, doc, odd.url, url.Values{"state": {"review"}, "since": {since.Format(time.RFC3339Nano)}, "limit": {"500"}})
	if len(ids) != len(arriving) {
		t.Errorf("since %s: %d invoices, want the %d that arrived after", since, len(ids), len(arriving))
	}
	for _, id := range ids {
		if !arriving[id] {
			t.Errorf("since: invoice %s changed before", id)
		}
	}
	// several states, and every state (the paid ones may still be applied)
	waitFor(t, 20*time.Second, "110 invoices in review or paid", func() bool {
		ids, _ := listAll(t, doc, even.url, url.Values{"state": {"review,paid"}, "limit": {"500"}})
		return len(ids) == 110
	})
	if ids, _ := listAll(t, doc, even.url, url.Values{"state": {"paid"}, "limit": {"500"}}); len(ids) != 40 {
		t.Errorf("state=paid: %d invoices, want 40", len(ids))
	}
	if ids, _ := listAll(t, doc, even.url, url.Values{"limit": {"500"}}); len(ids) != 110 {
		t.Errorf("every state: %d invoices, want 110", len(ids))
	}
	doc.Covered(t, "listInvoices 200")
}

// A page reads at most its scan bound: a filter that matches nothing answers an empty
// page with a cursor to go on from, and the pages still end.
func TestListScansABoundedNumberOfRecordsPerPage(t *testing.T) {
	e := newEnv(t)
	w := e.start(e.operatorConfig())
	for i := range 25 {
		e.payInvoice(strconv.Itoa(194000000+i), 10000)
	}
	doc := contracttest.OpenAPI(t, "worker")
	waitFor(t, 20*time.Second, "25 paid invoices listed", func() bool {
		ids, _ := listAll(t, doc, w.url, url.Values{"state": {"paid"}, "limit": {"500"}})
		return len(ids) == 25
	})
	l := &lister{js: e.js, keys: e.operatorConfig().ReadKeys, scan: 10, log: e.log, records: testChangelog(t, e)}
	srv := httptest.NewServer(l)
	t.Cleanup(srv.Close)
	var cursors []string
	q := url.Values{"state": {"review"}}
	for range 10 {
		page := listPage(t, doc, srv.URL, q)
		if len(page.Invoices) != 0 {
			t.Fatalf("%d invoices in review, want none", len(page.Invoices))
		}
		cursors = append(cursors, page.NextCursor)
		if !page.HasMore {
			break
		}
		q.Set("cursor", page.NextCursor)
	}
	if len(cursors) != 3 || cursors[0] == cursors[1] || cursors[1] == cursors[2] {
		t.Errorf("cursors %v: want 3 pages of at most 10 of the 25 records", cursors)
	}
}

func TestListRefusesBadQueries(t *testing.T) {
	e := newEnv(t)
	w := e.start(e.operatorConfig())
	doc := contracttest.OpenAPI(t, "worker")
	for _, q := range []string{"state=reviewed", "state=review,", "limit=0", "limit=501", "limit=x", "since=yesterday",
		"cursor=abc", "cursor=" + encodeCursor(1)[:4], "status=review"} {
		if code, body := call(t, doc, http.MethodGet, w.url+"/v1/invoices?"+q, testSupportKey, ""); code != http.StatusBadRequest {
			t.Errorf("%s: %d %s, want 400", q, code, body)
		}
	}
	if code, _ := call(t, doc, http.MethodGet, w.url+"/v1/invoices", "", ""); code != http.StatusUnauthorized {
		t.Errorf("no key: %d, want 401", code)
	}
	if code, _ := call(t, doc, http.MethodGet, w.url+"/v1/invoices", testOperatorKey, ""); code != http.StatusOK {
		t.Errorf("an operator key: %d, want 200", code)
	}
	if seq, err := decodeCursor(encodeCursor(42)); seq != 42 || err != nil {
		t.Errorf("cursor round trip: %d %v", seq, err)
	}
	doc.Covered(t, "listInvoices 400", "listInvoices 401")
}

// A page reads a record's state from its first tokens: it must be the invoice's, never
// an event's, whatever the order of the fields.
func TestRecordStateIsTheInvoicesState(t *testing.T) {
	c := createdFor("191111111", 1)
	inv, _, err := invoice.Apply(nil, invoice.CreatedMessage("191111111", c, c.CreatedAt), c.CreatedAt)
	if err != nil {
		t.Fatal(err)
	}
	cb, err := epay.DecodeCallback(signed(t, sample(t, "success.json")))
	if err != nil {
		t.Fatal(err)
	}
	msg := invoice.CallbackMessage("cb", cb, true, c.CreatedAt)
	review, evs, err := invoice.Apply(&inv, msg, c.CreatedAt)
	if err != nil || review.State != invoice.StateReview || len(evs) != 1 {
		t.Fatalf("setup: %s %v %v", review.State, evs, err)
	}
	evs[0].Invoice.State = invoice.StatePaid // an event's state must not be read for the invoice's
	data, _ := json.Marshal(bolt.Record{Invoice: review, Events: evs, MessageID: "cb"})
	if got := recordState(data); got != invoice.StateReview {
		t.Errorf("recordState = %q, want review", got)
	}
	for raw, want := range map[string]invoice.State{
		`{"events":[{"invoice":{"state":"paid"}}],"invoice":{"applied":["x"],"invoiceId":"1","state":"unmatched"}}`: invoice.StateUnmatched,
		`{"invoice":{"invoiceId":"1"}}`: "",
		`{"invoice":"paid"}`:            "",
		`[]`:                            "",
		`{"invoice":{"state":`:          "",
	} {
		if got := recordState([]byte(raw)); got != want {
			t.Errorf("recordState(%s) = %q, want %q", raw, got, want)
		}
	}
}
