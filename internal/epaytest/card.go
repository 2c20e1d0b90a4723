package epaytest

import (
	"crypto/sha256"
	"strconv"
)

// Card is what ePay's callbacks and status API show of a card: never its number.
type Card struct {
	Mask   string // 440563...5096
	Type   string // VISA, MASTERCARD or ""
	ID     string // stable per card number, like ePay's saved-card id
	Issuer string
}

// NewCard is the card of a number (12 to 19 digits; not checked).
func NewCard(number string) Card {
	sum := sha256.Sum256([]byte("sandbox-card:" + number))
	return Card{
		Mask:   number[:6] + "..." + number[len(number)-4:],
		Type:   cardType(number),
		ID:     UUIDFrom(sum[:16]),
		Issuer: "Halyk bank",
	}
}

func cardType(num string) string {
	switch {
	case num[0] == '4':
		return "VISA"
	case num[0] == '5' && num[1] >= '1' && num[1] <= '5':
		return "MASTERCARD"
	}
	if p, _ := strconv.Atoi(num[:4]); p >= 2221 && p <= 2720 {
		return "MASTERCARD"
	}
	return ""
}
