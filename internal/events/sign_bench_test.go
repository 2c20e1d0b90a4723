package events

import "testing"

// BenchmarkSignEvent is what a worker spends signing one event of about the outbox's
// size (bench/NOTES.md, session 23).
func BenchmarkSignEvent(b *testing.B) {
	s, err := NewSigner()
	if err != nil {
		b.Fatal(err)
	}
	body := make([]byte, 1500)
	b.ReportAllocs()
	for b.Loop() {
		s.Sign("191111111-2", 1722232257, body)
	}
}
