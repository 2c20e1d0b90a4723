package epaytest

import (
	"crypto/rand"
	"encoding/hex"
	"math/big"
	"strings"
)

// NewUUID returns a random version-4 UUID, the shape of ePay's transaction ids.
func NewUUID() string {
	var b [16]byte
	rand.Read(b[:])
	return UUIDFrom(b[:])
}

// UUIDFrom formats the first 16 bytes of b as a version-4 UUID: with a hash, an id
// stable per what was hashed.
func UUIDFrom(b []byte) string {
	var u [16]byte
	copy(u[:], b)
	u[6] = u[6]&0x0f | 0x40
	u[8] = u[8]&0x3f | 0x80
	h := hex.EncodeToString(u[:])
	return h[:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:]
}

// NewDigits returns n random decimal digits (approval codes, references, invoice ids).
func NewDigits(n int) string {
	var sb strings.Builder
	for range n {
		d, _ := rand.Int(rand.Reader, big.NewInt(10))
		sb.WriteByte(byte('0' + d.Int64()))
	}
	return sb.String()
}
