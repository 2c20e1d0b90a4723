// Package api holds epayflow's contracts as files: an OpenAPI 3.1 document for each HTTP
// API (openapi/initiator.yaml, worker.yaml, ingest.yaml, webhooks.yaml) and the AsyncAPI 3 document of
// the payment events (asyncapi/payment-events.yaml), embedded so tests validate the
// running services against exactly these files (internal/contracttest). docs/API.md
// says what each holds.
package api

import "embed"

// Files are the documents, by their path under api/: "openapi/initiator.yaml" and so on.
//
//go:embed openapi/*.yaml asyncapi/*.yaml
var Files embed.FS
