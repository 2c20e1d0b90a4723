package epayapi

import (
	"errors"
	"testing"

	"github.com/epayflow/epayflow/internal/jsonscan"
)

// ePay's fields come as numbers or strings, with spaces and escapes: read as the callback
// decoder reads them.
func TestFlexReadings(t *testing.T) {
	ints := map[string]int64{`484`: 484, `"484"`: 484, `" -498 "`: -498, `"\u0034\u0038\u0034"`: 484, `4.0`: 4, `null`: 0, `""`: 0, ``: 0}
	for v, want := range ints {
		if got, err := flexInt([]byte(v)); err != nil || got != want {
			t.Errorf("flexInt(%s) = %d, %v; want %d", v, got, err, want)
		}
	}
	bools := map[string]bool{`true`: true, `"yes"`: true, `" Y "`: true, `1`: true, `"\u0079es"`: true, `false`: false, `"no"`: false, `null`: false, `""`: false}
	for v, want := range bools {
		if got, err := flexBool([]byte(v)); err != nil || got != want {
			t.Errorf("flexBool(%s) = %v, %v; want %v", v, got, err, want)
		}
	}
	for _, v := range []string{`4.5`, `"four"`, `{"n":1}`, `[1]`} {
		if _, err := flexInt([]byte(v)); err == nil {
			t.Errorf("flexInt(%s): no error", v)
		}
	}
	if _, err := jsonscan.ScalarText([]byte(`{"code":"100"}`)); !errors.Is(err, jsonscan.ErrNotScalar) {
		t.Errorf("jsonscan.ScalarText(object) = %v, want jsonscan.ErrNotScalar", err)
	}
	if s, err := jsonscan.ScalarText([]byte(`" OK\t"`)); err != nil || s != "OK" {
		t.Errorf("scalarText = %q, %v", s, err)
	}
}
