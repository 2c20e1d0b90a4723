package inbox

import "testing"

// Success is matched ignoring case, so the code's case must not make two callbacks of one.
func TestCallbackMsgIDIgnoresTheCaseOfCode(t *testing.T) {
	for _, group := range [][]string{
		{"ok", "OK", "Ok", "oK", "o\u212a"}, // the Kelvin sign folds to k, as strings.EqualFold says
		{"error", "ERROR", "Error"},
	} {
		want := CallbackMsgID("123456789", "tx-1", group[0])
		wantUnverified := UnverifiedCallbackMsgID("123456789", "tx-1", group[0])
		for _, code := range group {
			if got := CallbackMsgID("123456789", "tx-1", code); got != want {
				t.Errorf("CallbackMsgID(code %q) = %q, want %q", code, got, want)
			}
			if got := UnverifiedCallbackMsgID("123456789", "tx-1", code); got != wantUnverified {
				t.Errorf("UnverifiedCallbackMsgID(code %q) = %q, want %q", code, got, wantUnverified)
			}
		}
	}
	if got := CallbackMsgID("123456789", "tx-1", "OK"); got != "cb:123456789:tx-1:ok" {
		t.Errorf("CallbackMsgID = %q", got)
	}
	if ok, failed := CallbackMsgID("123456789", "tx-1", "OK"), CallbackMsgID("123456789", "tx-1", "error"); ok == failed {
		t.Errorf("a success and a failure share the id %q", ok)
	}
	if v, u := CallbackMsgID("123456789", "tx-1", "ok"), UnverifiedCallbackMsgID("123456789", "tx-1", "OK"); v == u {
		t.Errorf("verified and unverified share the id %q", v)
	}
}

// The builder's in-place id is byte for byte the id the decoder derives (callbackID,
// from CallbackMsgID and UnverifiedCallbackMsgID), whatever the code's case or script.
func TestAppendCallbackIDIsCallbackID(t *testing.T) {
	for _, code := range []string{"", "ok", "OK", "Error", "o\u212a", "\u00d6K", "ok\u0130", "a-B_c.9", "\xff"} {
		for _, verified := range []bool{true, false} {
			want := callbackID("123456789", "tx-1", code, verified)
			prefix := []byte("junk")
			if got := string(appendCallbackID(prefix, "123456789", "tx-1", code, verified)); got != "junk"+want {
				t.Errorf("code %q, verified %v: %q, want %q", code, verified, got, "junk"+want)
			}
		}
	}
}
