package worker

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"os"
	"strings"
)

// HeaderStatusSignature carries the HMAC of a status message, made with the workers'
// status key: "v1=<base64url>". Only a worker can make it, so a status message that
// anyone else publishes to the inbox never moves an invoice (it goes to the DLQ).
const HeaderStatusSignature = "Epay-Status-Sig"

// minStatusKey is the shortest status key taken.
const minStatusKey = 16

// statusSigner signs and checks status messages.
type statusSigner struct{ key []byte }

// sign is the signature of a status message body on subject.
func (s statusSigner) sign(subject string, body []byte) string {
	m := hmac.New(sha256.New, s.key)
	m.Write([]byte("epayflow-status-v1\n"))
	m.Write([]byte(subject))
	m.Write([]byte{'\n'})
	m.Write(body)
	return "v1=" + base64.RawURLEncoding.EncodeToString(m.Sum(nil))
}

// check says why sig is not the signature of body on subject (nil when it is).
func (s statusSigner) check(subject string, body []byte, sig string) error {
	if sig == "" {
		return errors.New("status message without a worker signature (" + HeaderStatusSignature + ")")
	}
	if !hmac.Equal([]byte(sig), []byte(s.sign(subject, body))) {
		return errors.New("status message with a signature that is not the workers'")
	}
	return nil
}

// statusKey is cfg's status key, or (outside prod) the random key kept in
// <db>.status-key, made on first use.
func statusKey(cfg Config) ([]byte, error) {
	if cfg.StatusKey != "" {
		return []byte(cfg.StatusKey), nil
	}
	path := cfg.DB + ".status-key"
	if b, err := os.ReadFile(path); err == nil {
		key := strings.TrimSpace(string(b))
		if len(key) < minStatusKey {
			return nil, fmt.Errorf("%s holds %d characters: want at least %d", path, len(key), minStatusKey)
		}
		return []byte(key), nil
	} else if !errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("read the status key: %w", err)
	}
	raw := make([]byte, 32)
	if _, err := rand.Read(raw); err != nil {
		return nil, err
	}
	key := base64.RawURLEncoding.EncodeToString(raw)
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if errors.Is(err, os.ErrExist) { // another start made it first
		return statusKey(cfg)
	}
	if err != nil {
		return nil, fmt.Errorf("write the status key: %w", err)
	}
	if _, err := f.WriteString(key + "\n"); err != nil {
		f.Close()
		return nil, fmt.Errorf("write the status key: %w", err)
	}
	if err := f.Close(); err != nil {
		return nil, fmt.Errorf("write the status key: %w", err)
	}
	return []byte(key), nil
}
