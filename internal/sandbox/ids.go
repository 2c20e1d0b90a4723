package sandbox

import (
	"crypto/rand"
	"encoding/base32"
)

// newAccessToken returns a token shaped like ePay's ("DCEB8O_ZM5U7SO_T_U5EJQ"), longer.
func newAccessToken() string {
	var b [20]byte
	rand.Read(b[:])
	s := base32.StdEncoding.WithPadding(base32.NoPadding).EncodeToString(b[:])
	return s[:8] + "_" + s[8:16] + "_" + s[16:24] + "_" + s[24:]
}
