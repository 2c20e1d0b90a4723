package sandbox

import (
	"crypto/rand"
	"encoding/base32"
	"encoding/hex"
	"math/big"
	"strings"
)

// newUUID returns a random version-4 UUID, the shape of ePay's transaction ids.
func newUUID() string {
	var b [16]byte
	rand.Read(b[:])
	return uuidFrom(b[:])
}

// uuidFrom formats 16 bytes as a version-4 UUID.
func uuidFrom(b []byte) string {
	var u [16]byte
	copy(u[:], b)
	u[6] = u[6]&0x0f | 0x40
	u[8] = u[8]&0x3f | 0x80
	h := hex.EncodeToString(u[:])
	return h[:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:]
}

// newDigits returns n random decimal digits (approval codes, references).
func newDigits(n int) string {
	var sb strings.Builder
	for range n {
		d, _ := rand.Int(rand.Reader, big.NewInt(10))
		sb.WriteByte(byte('0' + d.Int64()))
	}
	return sb.String()
}

// newAccessToken returns a token shaped like ePay's ("DCEB8O_ZM5U7SO_T_U5EJQ"), longer.
func newAccessToken() string {
	var b [20]byte
	rand.Read(b[:])
	s := base32.StdEncoding.WithPadding(base32.NoPadding).EncodeToString(b[:])
	return s[:8] + "_" + s[8:16] + "_" + s[16:24] + "_" + s[24:]
}
