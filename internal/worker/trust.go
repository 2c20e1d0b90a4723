package worker

import (
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"os"
	"strings"

	"github.com/epayflow/epayflow/internal/inbox"
)

// statusKey is cfg's status key, or (outside prod) the random key kept in
// <db>.status-key, made on first use.
func statusKey(cfg Config) ([]byte, error) {
	if cfg.StatusKey != "" {
		return []byte(cfg.StatusKey), nil
	}
	path := cfg.DB + ".status-key"
	if b, err := os.ReadFile(path); err == nil {
		key := strings.TrimSpace(string(b))
		if len(key) < inbox.MinStatusKey {
			return nil, fmt.Errorf("%s holds %d characters: want at least %d", path, len(key), inbox.MinStatusKey)
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
