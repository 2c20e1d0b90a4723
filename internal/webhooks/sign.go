package webhooks

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"strconv"
	"strings"
	"time"
)

// ContentType is a delivery's Content-Type: the CloudEvents JSON format's (the body is a
// whole CloudEvent, the HTTP binding's structured mode).
const ContentType = "application/cloudevents+json"

// The Standard Webhooks headers.
const (
	HeaderID        = "webhook-id"
	HeaderTimestamp = "webhook-timestamp"
	HeaderSignature = "webhook-signature"
)

// Sign is the webhook-signature header of a delivery: for each secret,
// "v1,<base64 of HMAC-SHA256 of id.timestamp.body>" keyed by the secret's decoded bytes,
// separated by spaces. It fails on a secret that is not whsec_<base64>.
func Sign(secrets []string, id string, ts time.Time, body []byte) (string, error) {
	sigs := make([]string, 0, len(secrets))
	for _, s := range secrets {
		key, err := base64.StdEncoding.DecodeString(strings.TrimPrefix(s, SecretPrefix))
		if err != nil || len(key) == 0 {
			return "", errors.New("webhooks: secret is not whsec_<base64>")
		}
		mac := hmac.New(sha256.New, key)
		mac.Write([]byte(id + "." + strconv.FormatInt(ts.Unix(), 10) + "."))
		mac.Write(body)
		sigs = append(sigs, "v1,"+base64.StdEncoding.EncodeToString(mac.Sum(nil)))
	}
	return strings.Join(sigs, " "), nil
}
