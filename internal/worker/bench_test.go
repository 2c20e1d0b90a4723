package worker

import (
	"testing"
	"time"

	"github.com/ThreeDotsLabs/watermill/message"

	"github.com/epayflow/epayflow/internal/epay"
	"github.com/epayflow/epayflow/internal/inbox"
)

// BenchmarkDecodeInboxCallback is the worker's decode of one inbox callback (the
// subscriber does it once per message, for the order key and the handler).
func BenchmarkDecodeInboxCallback(b *testing.B) {
	raw := signed(b, sample(b, "success.json"))
	dec := decoder{inbox: inbox.Decoder{Shards: inbox.DefaultShards, Keys: testKeys}}
	cb, err := epay.DecodeCallback(raw)
	if err != nil {
		b.Fatal(err)
	}
	msg := message.NewMessage("bench", raw)
	msg.Metadata.Set(mdSubject, inbox.Subject(inbox.Shard(cb.InvoiceID, inbox.DefaultShards), inbox.KindPostlink))
	msg.Metadata.Set(inbox.HeaderReceipt, string(inbox.Receipt{Route: "/epay/postlink", RemoteAddr: "127.0.0.1:50000",
		RequestID: "bench", At: time.Now(), Verified: true}.AppendHeader(nil)))
	b.SetBytes(int64(len(raw)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := dec.decode(msg); err != nil {
			b.Fatal(err)
		}
	}
}
