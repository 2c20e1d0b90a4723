package epaytest_test

import (
	"encoding/json"
	"slices"
	"testing"
	"time"

	"github.com/epayflow/epayflow/internal/epay"
	"github.com/epayflow/epayflow/internal/epaytest"
)

func decoded(t *testing.T, body []byte) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(body, &m); err != nil {
		t.Fatal(err)
	}
	return m
}

func TestBodyWritesTheTimeInAlmatyAndTheLanguageAsCallbacksDo(t *testing.T) {
	created := time.Date(2026, 1, 2, 3, 4, 5, 6, time.UTC)
	for lang, want := range map[string]string{"kaz": "KAZ", " KZ ": "KAZ", "kk": "KAZ", "eng": "ENG", "en": "ENG", "rus": "RUS", "": "RUS"} {
		tx := epaytest.Transaction{ID: "6b0e1a53-4d05-4ed2-8c3d-3f1f4e3c2a10", InvoiceID: "000000020", Amount: 100,
			Currency: "KZT", Card: epaytest.NewCard("4405639704015096"), Language: lang, Created: created}
		body := tx.Body("hash")
		hasSampleShape(t, body, "success.json")
		m := decoded(t, body)
		if m["dateTime"] != "2026-01-02T08:04:05.000000006+05:00" || m["language"] != want || m["secret_hash"] != "hash" {
			t.Errorf("language %q: dateTime %v language %v secret_hash %v, want +05:00 with nanoseconds, %s, hash",
				lang, m["dateTime"], m["language"], m["secret_hash"], want)
		}
	}
}

func TestBodyOfADeclineHasTheFailureShapeWithItsReason(t *testing.T) {
	tx := epaytest.Transaction{ID: "6b0e1a53-4d05-4ed2-8c3d-3f1f4e3c2a11", InvoiceID: "000000021", InvoiceIDAlt: "alt-21",
		Amount: 100, Currency: "KZT", Card: epaytest.NewCard("4405639704015096"), ReasonCode: 454, Created: time.Now()}
	body := tx.Body("hash")
	hasSampleShape(t, body, "failure.json", "invoiceIdAlt")
	m := decoded(t, body)
	reason, _ := epay.Reason(454)
	if m["code"] != "error" || m["reasonCode"] != float64(454) || m["reason"] != reason.EN || m["invoiceIdAlt"] != "alt-21" || m["CardType"] != "VISA" {
		t.Errorf("body %s: want code error, reasonCode 454 with its reason, invoiceIdAlt alt-21, CardType VISA", body)
	}
	tx.InvoiceIDAlt = ""
	if _, ok := decoded(t, tx.Body("hash"))["invoiceIdAlt"]; ok {
		t.Error("invoiceIdAlt written without one: the failure sample has none")
	}
}

func TestShapeDiffNamesEachDifference(t *testing.T) {
	sample := map[string]any{"id": "x", "amount": 1.0, "code": "ok"}
	body := map[string]any{"id": 7.0, "amount": 2.0, "extra": true, "secret_hash": "h"}
	got := epaytest.ShapeDiff(body, sample, "secret_hash")
	want := []string{`field "code" of the sample is missing`, `field "extra" is not in the sample`, `field "id" is a float64, the sample has a string`}
	if !slices.Equal(got, want) {
		t.Errorf("ShapeDiff = %q, want %q", got, want)
	}
	if d := epaytest.ShapeDiff(map[string]any{"id": "y", "amount": 3.0, "code": "error"}, sample); d != nil {
		t.Errorf("same shape: %q, want nothing", d)
	}
}
