package epaytest_test

import (
	"testing"

	"github.com/epayflow/epayflow/internal/epaytest"
)

func TestCardShowsTheMaskTypeAndAnIDStablePerNumber(t *testing.T) {
	num := "4405639704015096"
	a, again, other := epaytest.NewCard(num), epaytest.NewCard(num), epaytest.NewCard("5522042705066736")
	if a.ID != again.ID || a.ID == other.ID {
		t.Fatal("cardId must be the same for a card and differ between cards")
	}
	if a.Mask != "440563...5096" || a.Type != "VISA" || other.Type != "MASTERCARD" || epaytest.NewCard("2221000000000009").Type != "MASTERCARD" {
		t.Errorf("cards %+v %+v: want 440563...5096 VISA, then MASTERCARD (51-55 and 2221-2720)", a, other)
	}
}
