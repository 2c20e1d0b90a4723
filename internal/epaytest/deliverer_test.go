package epaytest_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/epayflow/epayflow/internal/epaytest"
)

// delivery is what Deliverer.Delivered was told.
type delivery struct {
	body             []byte
	status, attempts int
}

// deliverer returns a Deliverer with deadline and the record of what it delivered.
func deliverer(deadline time.Duration) (*epaytest.Deliverer, func() []delivery) {
	var mu sync.Mutex
	var got []delivery
	d := &epaytest.Deliverer{Attempt: 5 * time.Second, Deadline: deadline, Delivered: func(body []byte, status, attempts int) {
		mu.Lock()
		defer mu.Unlock()
		got = append(got, delivery{body, status, attempts})
	}}
	return d, func() []delivery {
		mu.Lock()
		defer mu.Unlock()
		return slices.Clone(got)
	}
}

func TestDelivererRetriesUntilAFinalAnswer(t *testing.T) {
	for _, tt := range []struct {
		name     string
		statuses []int
		attempts int
		status   int
	}{
		{"503s then 200", []int{503, 503}, 3, 200},
		{"429 and 408 are not final", []int{429, 408}, 3, 200},
		{"a 4xx is final", []int{400}, 1, 400},
		{"401 is final", []int{401, 503}, 1, 401},
	} {
		t.Run(tt.name, func(t *testing.T) {
			m := newMerchant(t, nil, tt.statuses...)
			d, delivered := deliverer(time.Minute)
			res, err := epaytest.Trigger(context.Background(), epaytest.TriggerOptions{URL: m.URL, InvoiceID: "000000010",
				Amount: 100, Keys: testKeys(t), Client: &http.Client{Transport: d}})
			if err != nil || len(res.Posts) != 1 || res.Posts[0].Status != tt.status {
				t.Fatalf("trigger: %v %+v, want one POST answered %d", err, res, tt.status)
			}
			got := delivered()
			if len(got) != 1 || got[0].status != tt.status || got[0].attempts != tt.attempts || len(m.callbacks()) != tt.attempts {
				t.Fatalf("delivered %+v, merchant got %d: want %d attempts ending in %d", got, len(m.callbacks()), tt.attempts, tt.status)
			}
			if string(got[0].body) != string(m.callbacks()[0].Raw) {
				t.Error("Delivered was not told the body that was sent")
			}
		})
	}
}

func TestDelivererGivesUpAtTheDeadlineWithTheLastAnswer(t *testing.T) {
	failing := make([]int, 1000)
	for i := range failing {
		failing[i] = http.StatusServiceUnavailable
	}
	m := newMerchant(t, nil, failing...)
	d, delivered := deliverer(time.Second)
	res, err := epaytest.Trigger(context.Background(), epaytest.TriggerOptions{URL: m.URL, InvoiceID: "000000011",
		Amount: 100, Keys: testKeys(t), Client: &http.Client{Transport: d}})
	if err != nil || len(res.Posts) != 1 || res.Posts[0].Status != http.StatusServiceUnavailable || res.Unexpected() != 1 {
		t.Fatalf("trigger: %v %+v, want one POST answered 503 in the end", err, res)
	}
	got := delivered()
	if len(got) != 1 || got[0].status != http.StatusServiceUnavailable || got[0].attempts < 2 || got[0].attempts != len(m.callbacks()) {
		t.Fatalf("delivered %+v, merchant got %d: want several attempts, the last answered 503", got, len(m.callbacks()))
	}
}

func TestDelivererWithNoAnswerReportsTheError(t *testing.T) {
	down := httptest.NewServer(http.NotFoundHandler())
	down.Close()
	d, delivered := deliverer(300 * time.Millisecond)
	res, err := epaytest.Trigger(context.Background(), epaytest.TriggerOptions{URL: down.URL, InvoiceID: "000000012",
		Amount: 100, Keys: testKeys(t), Client: &http.Client{Transport: d}})
	if err != nil || len(res.Posts) != 1 || res.Posts[0].Error == "" || res.Posts[0].Status != 0 {
		t.Fatalf("trigger: %v %+v, want one POST with an error and no status", err, res)
	}
	if got := delivered(); len(got) != 1 || got[0].status != 0 || got[0].attempts < 1 {
		t.Fatalf("delivered %+v, want one callback with no status", got)
	}
}
