package worker

import (
	"errors"
	"flag"
	"io"
	"strings"
	"testing"
)

// FuzzParseFlags feeds random values to the worker's variables: parsing never panics,
// and every error is one line wrapping ErrConfig.
func FuzzParseFlags(f *testing.F) {
	f.Add("8", "all", "prod", "http://127.0.0.1:8090", "on", "30m")
	f.Add("x", "0-3,6", "", "", "auto", "-1s")
	f.Add("4", "ordinal:2", "sandbox", "::", "maybe", "1h\n")
	f.Fuzz(func(t *testing.T, shards, own, env, url, confirm, dur string) {
		vals := map[string]string{"EPAY_SHARDS": shards, "WORKER_SHARDS": own, "POD_NAME": own, "EPAY_ENV": env,
			"EPAY_API_URL": url, "EPAY_TOKEN_URL": url, "WORKER_CONFIRM_PAYMENTS": confirm, "WORKER_RECONCILE_AFTER": dur,
			"WORKER_ACK_WAIT": dur, "WORKER_STATUS_CONCURRENCY": shards, "EPAY_CLIENT_SECRET": confirm}
		_, err := parseFlags("worker", nil, func(k string) string { return vals[k] }, io.Discard)
		if err == nil || errors.Is(err, flag.ErrHelp) {
			return
		}
		if !errors.Is(err, ErrConfig) || strings.Contains(err.Error(), "\n") {
			t.Fatalf("error %q: want one line wrapping ErrConfig", err)
		}
	})
}
