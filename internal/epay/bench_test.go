package epay

import (
	"bytes"
	"testing"
)

func BenchmarkDecodeCallback(b *testing.B) {
	raw := mustReadSample(b, "success.json")
	b.SetBytes(int64(len(raw)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := DecodeCallback(raw); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkRedactSecretHash(b *testing.B) {
	raw := mustReadSample(b, "success.json")
	signed := bytes.Replace(raw, []byte(`"terminal"`), []byte(`"secret_hash": "A2345ABCDEFGHIJKLMNOPQRSTU", "terminal"`), 1)
	b.SetBytes(int64(len(signed)))
	b.ReportAllocs()
	for b.Loop() {
		if out := RedactSecretHash(signed); bytes.Equal(out, signed) {
			b.Fatal("not redacted")
		}
	}
}
