package events

import (
	"testing"

	"github.com/epayflow/epayflow/internal/jsonw/jsonwtest"
)

func TestCloudEventAppendJSONIsMarshal(t *testing.T) {
	jsonwtest.Check(t, 3000, func(c *CloudEvent) ([]byte, error) { return c.AppendJSON(nil) })
}
