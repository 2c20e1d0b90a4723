package browsertest

import (
	"strings"
	"testing"
)

// TestWithoutChromiumFailsUnderMakeTest: make test sets EPAYFLOW_REQUIRE_CHROMIUM, and a
// browser test without Chromium then fails instead of skipping silently.
func TestWithoutChromiumFailsUnderMakeTest(t *testing.T) {
	for _, tt := range []struct {
		env  map[string]string
		fail bool
		want string
	}{
		{map[string]string{"EPAYFLOW_REQUIRE_CHROMIUM": "1"}, true, "EPAYFLOW_REQUIRE_CHROMIUM is set (make test sets it): install chromium (apt-get install chromium)"},
		{map[string]string{"CI": "true"}, true, "CI is set"},
		{nil, false, "skipped"},
	} {
		fail, why := withoutChromium(func(k string) string { return tt.env[k] })
		if fail != tt.fail || !strings.Contains(why, tt.want) {
			t.Errorf("%v: fail %v, %q; want %v, %q", tt.env, fail, why, tt.fail, tt.want)
		}
	}
}
