package epay

import (
	"errors"
	"strings"
	"testing"
)

func TestCheckNotPublicRefusesEveryDocumentedKey(t *testing.T) {
	tests := map[string]struct {
		keys   string
		public bool
	}{
		"devstack default":              {"D:dev-only-signing-key-do-not-use-in-prod", true},
		"sandbox docs example":          {"A:dev-only-change-me-0123", true},
		"any dev-only secret":           {"A:dev-only-0123456789abcdef", true},
		"public key second":             {"B:k8s-random-secret-0123456789,A:dev-only-change-me-0123", true},
		"a secret of one's own":         {"B:k8s-random-secret-0123456789", false},
		"dev-only inside, not at start": {"B:my-dev-only-secret-0123456789", false},
	}
	for name, tt := range tests {
		t.Run(name, func(t *testing.T) {
			ring, err := ParseKeyring(tt.keys)
			if err != nil {
				t.Fatal(err)
			}
			err = ring.CheckNotPublic()
			if got := errors.Is(err, ErrPublicKey); got != tt.public {
				t.Fatalf("CheckNotPublic() = %v, want public %v", err, tt.public)
			}
			if err != nil && (strings.Contains(err.Error(), "change-me") || strings.Contains(err.Error(), "do-not-use")) {
				t.Errorf("error quotes the secret: %v", err)
			}
		})
	}
}
