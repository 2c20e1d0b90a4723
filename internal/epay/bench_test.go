package epay

import "testing"

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
