package merchant_test

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"net/http"
	"strconv"
	"testing"
	"time"

	"github.com/epayflow/epayflow/merchant"
)

// Whatever comes in the headers and the body, Verify neither panics nor accepts a
// signature made with another key; a signature made with the secret always verifies.
func FuzzVerify(f *testing.F) {
	f.Add(specID, int64(specTimestamp), specSignature, []byte(specBody))
	f.Add("", int64(0), "v1,", []byte{})
	f.Add("id", int64(-1), "v1,a v1,b v2,c ,, v1", []byte("{}"))
	key, _ := base64.StdEncoding.DecodeString(specSecret[len("whsec_"):])
	f.Fuzz(func(t *testing.T, id string, ts int64, sig string, body []byte) {
		v, err := merchant.NewWebhookVerifier(specSecret)
		if err != nil {
			t.Fatal(err)
		}
		v.Now = func() time.Time { return time.Unix(ts, 0) }
		h := http.Header{}
		h.Set("webhook-id", id)
		h.Set("webhook-timestamp", strconv.FormatInt(ts, 10))
		h.Set("webhook-signature", sig)
		mac := hmac.New(sha256.New, key)
		mac.Write([]byte(id + "." + strconv.FormatInt(ts, 10) + "."))
		mac.Write(body)
		good := "v1," + base64.StdEncoding.EncodeToString(mac.Sum(nil))
		if got, err := v.Verify(h, body); err == nil && (got != id || !containsField(sig, good)) {
			t.Fatalf("accepted %q for id %q without the right signature %q", sig, id, good)
		}
		if id == "" || h.Get("webhook-id") != id {
			return // not a header value http.Header keeps as given
		}
		h.Set("webhook-signature", sig+" "+good)
		if h.Get("webhook-signature") != sig+" "+good {
			return
		}
		if _, err := v.Verify(h, body); err != nil {
			t.Fatalf("the right signature after %q: %v", sig, err)
		}
	})
}

func containsField(list, s string) bool {
	for i := 0; i+len(s) <= len(list); i++ {
		if list[i:i+len(s)] == s && (i == 0 || list[i-1] == ' ') && (i+len(s) == len(list) || list[i+len(s)] == ' ') {
			return true
		}
	}
	return false
}

// DecodeEvent never panics, and what it accepts is a payment event of its subject's invoice.
func FuzzDecodeEvent(f *testing.F) {
	f.Add([]byte(paidEvent))
	f.Add([]byte(`{"specversion":"1.0"}`))
	f.Add([]byte(`not json`))
	f.Fuzz(func(t *testing.T, body []byte) {
		ev, err := merchant.DecodeEvent(body)
		if err != nil {
			return
		}
		if ev.ID == "" || ev.Subject != ev.Data.Invoice.InvoiceID || ev.Data.Invoice.State == "" || len(ev.Type) <= len(merchant.EventTypePrefix) && ev.Type != merchant.EventTypePrefix {
			t.Fatalf("accepted %+v", ev)
		}
	})
}
