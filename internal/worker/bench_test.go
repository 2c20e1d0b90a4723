package worker

import (
	"testing"
	"time"

	"github.com/ThreeDotsLabs/watermill/message"

	"github.com/epayflow/epayflow/internal/epay"
	"github.com/epayflow/epayflow/internal/natsbus"
)

// BenchmarkDecodeInboxCallback is the worker's decode of one inbox callback (the
// subscriber does it once per message, for the order key and the handler).
func BenchmarkDecodeInboxCallback(b *testing.B) {
	raw := signed(b, sample(b, "success.json"))
	dec := decoder{shards: natsbus.DefaultShards, keys: testKeys}
	cb, err := epay.DecodeCallback(raw)
	if err != nil {
		b.Fatal(err)
	}
	msg := message.NewMessage("bench", raw)
	msg.Metadata.Set(mdSubject, natsbus.InboxSubject(natsbus.Shard(cb.InvoiceID, natsbus.DefaultShards), natsbus.KindPostlink))
	msg.Metadata.Set(natsbus.HeaderVerified, "true")
	msg.Metadata.Set(natsbus.HeaderReceivedAt, time.Now().UTC().Format(time.RFC3339Nano))
	b.SetBytes(int64(len(raw)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := dec.decode(msg); err != nil {
			b.Fatal(err)
		}
	}
}
