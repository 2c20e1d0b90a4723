package epay

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base32"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"testing"
)

const (
	testTerminal = "67e34d63-102f-4bd1-898e-370781d0074d"
	testSecretA  = "a-signing-secret-of-32-bytes-AAA"
	testSecretB  = "an-older-secret-still-verifying!"
)

func mustKeyring(t testing.TB, spec string) *Keyring {
	t.Helper()
	k, err := ParseKeyring(spec)
	if err != nil {
		t.Fatalf("ParseKeyring: %v", err)
	}
	return k
}

// independentHash computes secret_hash straight from docs/DESIGN.md, without the package's code.
func independentHash(kid byte, secret, terminal, invoiceID string) string {
	h := hmac.New(sha256.New, []byte(secret))
	h.Write([]byte(terminal + ":" + invoiceID))
	enc := base32.StdEncoding.WithPadding(base32.NoPadding).EncodeToString(h.Sum(nil))
	return string(kid) + enc[:24]
}

func TestSignMatchesTheDesign(t *testing.T) {
	k := mustKeyring(t, "A:"+testSecretA+",B:"+testSecretB)
	got := k.Sign(testTerminal, "191111111")
	want := independentHash('A', testSecretA, testTerminal, "191111111")
	if got != want {
		t.Fatalf("Sign = %q, want %q", got, want)
	}
	if len(got) != SecretHashLen || SecretHashLen != 25 {
		t.Errorf("len = %d, SecretHashLen = %d, want 25", len(got), SecretHashLen)
	}
	if strings.Trim(got[1:], "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567") != "" {
		t.Errorf("%q is not standard base32 after the key id", got)
	}
}

// A fixed vector, computed outside Go (Python's hmac and base64). If it changes, every
// invoice in flight stops verifying.
func TestSignKnownVector(t *testing.T) {
	k := mustKeyring(t, "K:0123456789abcdef0123456789abcdef")
	if got := k.Sign("terminal-1", "000000001"); got != "KEPQJCQMXSSMCHYBSX4EG3FY3" {
		t.Errorf("Sign = %q, want KEPQJCQMXSSMCHYBSX4EG3FY3", got)
	}
}

func TestVerify(t *testing.T) {
	k := mustKeyring(t, "A:"+testSecretA+",B:"+testSecretB)
	old := mustKeyring(t, "B:"+testSecretB)
	sig := k.Sign(testTerminal, "191111111")
	oldSig := old.Sign(testTerminal, "191111111")
	flip := func(s string) string {
		b := []byte(s)
		if b[5] == 'A' {
			b[5] = 'B'
		} else {
			b[5] = 'A'
		}
		return string(b)
	}
	tests := []struct {
		name       string
		terminal   string
		invoiceID  string
		hash       string
		want       error
		wantReason string
	}{
		{"signed by the first key", testTerminal, "191111111", sig, nil, "ok"},
		{"signed by the rotated old second key", testTerminal, "191111111", oldSig, nil, "ok"},
		{"missing", testTerminal, "191111111", "", ErrSecretHashMissing, "missing"},
		{"too short", testTerminal, "191111111", sig[:SecretHashLen-1], ErrSecretHashMalformed, "malformed"},
		{"too long", testTerminal, "191111111", sig + "A", ErrSecretHashMalformed, "malformed"},
		{"lower case", testTerminal, "191111111", strings.ToLower(sig), ErrSecretHashMalformed, "malformed"},
		{"not base32", testTerminal, "191111111", sig[:24] + "1", ErrSecretHashMalformed, "malformed"},
		{"bad key id", testTerminal, "191111111", "!" + sig[1:], ErrSecretHashMalformed, "malformed"},
		{"ePay's sample value", testTerminal, "191111111", "JDKCNDDGGDTPSKJD", ErrSecretHashMalformed, "malformed"},
		{"unknown key id", testTerminal, "191111111", "Z" + sig[1:], ErrSecretHashUnknownKey, "unknown_key"},
		{"other key's id on this mac", testTerminal, "191111111", "B" + sig[1:], ErrSecretHashMismatch, "mismatch"},
		{"one character changed", testTerminal, "191111111", flip(sig), ErrSecretHashMismatch, "mismatch"},
		{"other terminal", "40a348cb-68a1-4d1b-8d6e-000000000000", "191111111", sig, ErrSecretHashMismatch, "mismatch"},
		{"other invoice", testTerminal, "191111112", sig, ErrSecretHashMismatch, "mismatch"},
		{"terminal and invoice shifted across the colon", testTerminal + ":1", "91111111", sig, ErrSecretHashMismatch, "mismatch"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := k.Verify(tt.terminal, tt.invoiceID, tt.hash)
			if tt.want == nil && err != nil || tt.want != nil && !errors.Is(err, tt.want) {
				t.Errorf("Verify = %v, want %v", err, tt.want)
			}
			if got := SecretHashReason(err); got != tt.wantReason {
				t.Errorf("SecretHashReason = %q, want %q", got, tt.wantReason)
			}
		})
	}
}

func TestVerifyAfterRotation(t *testing.T) {
	// Step 1: only A. Step 2: B added second. Step 3: B moved first. Step 4: A removed.
	steps := []string{"A:" + testSecretA, "A:" + testSecretA + ",B:" + testSecretB, "B:" + testSecretB + ",A:" + testSecretA, "B:" + testSecretB}
	rings := make([]*Keyring, len(steps))
	for i, s := range steps {
		rings[i] = mustKeyring(t, s)
	}
	signedByA := rings[0].Sign(testTerminal, "123456")
	signedByB := rings[2].Sign(testTerminal, "123456")
	if signedByA[0] != 'A' || signedByB[0] != 'B' {
		t.Fatalf("signing keys: %q, %q", signedByA, signedByB)
	}
	for i, r := range rings[:3] {
		if err := r.Verify(testTerminal, "123456", signedByA); err != nil {
			t.Errorf("step %d does not verify A's hash: %v", i+1, err)
		}
	}
	if err := rings[3].Verify(testTerminal, "123456", signedByA); !errors.Is(err, ErrSecretHashUnknownKey) {
		t.Errorf("after A is removed: %v, want ErrSecretHashUnknownKey", err)
	}
	for i, r := range rings[1:] {
		if err := r.Verify(testTerminal, "123456", signedByB); err != nil {
			t.Errorf("step %d does not verify B's hash: %v", i+2, err)
		}
	}
}

func TestParseKeyring(t *testing.T) {
	k, err := ParseKeyring(" A:" + testSecretA + " , 7:" + testSecretB + ":with:colons")
	if err != nil {
		t.Fatalf("ParseKeyring: %v", err)
	}
	if k.KeyIDs() != "A7" {
		t.Errorf("KeyIDs = %q, want A7", k.KeyIDs())
	}
	if err := k.Verify("t", "123456", independentHash('7', testSecretB+":with:colons", "t", "123456")); err != nil {
		t.Errorf("a secret containing ':' does not verify: %v", err)
	}
}

func TestParseKeyringErrorsNeverContainTheSecret(t *testing.T) {
	const secret = "TOPSECRETVALUE-0123456789"
	specs := []string{
		"",
		",",
		secret,
		"A" + secret,
		"A:" + secret + ",",
		"AB:" + secret,
		"a:" + secret,
		"!:" + secret,
		"A:" + secret + ",A:" + secret + "x",
		"A:" + secret[:MinKeyLen-1],
		":" + secret,
	}
	for _, spec := range specs {
		k, err := ParseKeyring(spec)
		if !errors.Is(err, ErrKeyring) {
			t.Errorf("ParseKeyring(%q) = %v, %v; want ErrKeyring", spec, k, err)
			continue
		}
		msg := err.Error()
		for _, part := range []string{secret, secret[:MinKeyLen-1], "TOPSECRET"} {
			if strings.Contains(msg, part) {
				t.Errorf("ParseKeyring error %q contains the secret", msg)
			}
		}
	}
}

func TestNewKeyringErrors(t *testing.T) {
	long := []byte(testSecretA)
	for name, keys := range map[string][]Key{
		"none":       nil,
		"bad id":     {{ID: '-', Secret: long}},
		"lower id":   {{ID: 'a', Secret: long}},
		"repeated":   {{ID: 'A', Secret: long}, {ID: 'A', Secret: long}},
		"too short":  {{ID: 'A', Secret: long[:MinKeyLen-1]}},
		"second bad": {{ID: 'A', Secret: long}, {ID: 'B', Secret: nil}},
	} {
		if _, err := NewKeyring(keys...); !errors.Is(err, ErrKeyring) {
			t.Errorf("%s: NewKeyring = %v, want ErrKeyring", name, err)
		}
	}
}

func TestNewKeyringCopiesTheList(t *testing.T) {
	keys := []Key{{ID: 'A', Secret: []byte(testSecretA)}}
	k, err := NewKeyring(keys...)
	if err != nil {
		t.Fatal(err)
	}
	before := k.Sign(testTerminal, "123456")
	keys[0] = Key{ID: 'B', Secret: []byte(testSecretB)}
	if after := k.Sign(testTerminal, "123456"); after != before {
		t.Error("changing the caller's slice changed the keyring")
	}
}

func TestKeyringNeverPrintsSecrets(t *testing.T) {
	k := mustKeyring(t, "A:"+testSecretA+",B:"+testSecretB)
	var logged strings.Builder
	slog.New(slog.NewTextHandler(&logged, nil)).Info("keys", "keys", k)
	for _, out := range []string{k.String(), fmt.Sprint(k), fmt.Sprintf("%v", k), logged.String()} {
		if strings.Contains(out, testSecretA) || strings.Contains(out, testSecretB) {
			t.Errorf("secret printed: %s", out)
		}
	}
	if k.String() != "keyring[AB]" {
		t.Errorf("String = %q", k.String())
	}
}

func BenchmarkVerify(b *testing.B) {
	k := mustKeyring(b, "A:"+testSecretA+",B:"+testSecretB)
	sig := k.Sign(testTerminal, "191111111")
	b.ReportAllocs()
	for b.Loop() {
		if err := k.Verify(testTerminal, "191111111", sig); err != nil {
			b.Fatal(err)
		}
	}
}

// Sign and Verify, on the hot path of the ingest and of the worker, allocate nothing:
// each key's HMAC is pooled, not made again per callback.
func TestSignAndVerifyAllocateNothing(t *testing.T) {
	if raceEnabled {
		t.Skip("the race detector drops pooled items on purpose")
	}
	k := mustKeyring(t, "A:"+testSecretA+",B:"+testSecretB)
	sig := k.Sign(testTerminal, "191111111")
	if n := testing.AllocsPerRun(100, func() {
		if err := k.Verify(testTerminal, "191111111", sig); err != nil {
			t.Fatal(err)
		}
	}); n != 0 {
		t.Errorf("Verify: %v allocations", n)
	}
	var buf [SecretHashLen]byte
	if n := testing.AllocsPerRun(100, func() { k.mac(0, buf[:0], testTerminal, ':', "191111111") }); n != 0 {
		t.Errorf("mac: %v allocations", n)
	}
}

// The pooled HMACs give every goroutine the same answers as a fresh HMAC would, with
// each key's secret, whatever ran before on the same pooled state.
func TestPooledMACsAgreeWithAFreshHMACConcurrently(t *testing.T) {
	k := mustKeyring(t, "A:"+testSecretA+",B:"+testSecretB)
	fresh := func(secret, terminal, inv string) string {
		h := hmac.New(sha256.New, []byte(secret))
		h.Write([]byte(terminal + ":" + inv))
		return b32.EncodeToString(h.Sum(nil))[:secretHashMACLen]
	}
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Go(func() {
			for i := range 200 {
				inv := fmt.Sprintf("%09d", g*1000+i)
				terminal := testTerminal + strings.Repeat("x", i%3*200) // outsized inputs too
				for j, secret := range []string{testSecretA, testSecretB} {
					var buf [secretHashMACLen]byte
					if got, want := string(k.mac(j, buf[:0], terminal, ':', inv)), fresh(secret, terminal, inv); got != want {
						t.Errorf("key %d, invoice %s: %s, want %s", j, inv, got, want)
						return
					}
				}
			}
		})
	}
	wg.Wait()
}

// A token for another purpose (the initiator's return page) is never a secret_hash: a
// callback that names the purpose, or any other string, as its terminal does not pass
// with it, and a secret_hash is no token. The return token was once Sign(purpose, id),
// which a buyer could post back as the secret_hash of a callback for terminal purpose.
func TestATokenIsNeverASecretHashOfAnyTerminal(t *testing.T) {
	k := mustKeyring(t, "A:"+testSecretA+",B:"+testSecretB)
	const purpose, id = "epayflow-return-page", "191111111"
	tok := k.Token(purpose, id)
	if !wellFormed(tok) || tok[0] != 'A' {
		t.Fatalf("token %q: want a key id and 24 base32 characters", tok)
	}
	if err := k.VerifyToken(purpose, id, tok); err != nil {
		t.Fatalf("the token's own check: %v", err)
	}
	for _, terminal := range []string{purpose, purpose + "\x00", "", testTerminal} {
		if err := k.Verify(terminal, id, tok); !errors.Is(err, ErrSecretHashMismatch) {
			t.Errorf("the token as the secret_hash of terminal %q: %v, want a mismatch", terminal, err)
		}
	}
	if err := k.VerifyToken(purpose, id, k.Sign(purpose, id)); !errors.Is(err, ErrSecretHashMismatch) {
		t.Errorf("a secret_hash as the token: %v, want a mismatch", err)
	}
	for _, c := range [][2]string{{purpose, "1:2"}, {"a:b", id}} {
		if got := k.Token(c[0], c[1]); got != "" {
			t.Errorf("Token(%q, %q) = %q, want none: a ':' could make it a secret_hash input", c[0], c[1], got)
		}
		if err := k.VerifyToken(c[0], c[1], tok); err == nil {
			t.Errorf("VerifyToken(%q, %q) accepted a token", c[0], c[1])
		}
	}
	// a token of the second key (rotated out of signing) still checks
	old := mustKeyring(t, "B:"+testSecretB)
	if err := k.VerifyToken(purpose, id, old.Token(purpose, id)); err != nil {
		t.Errorf("a token of key B: %v", err)
	}
}
