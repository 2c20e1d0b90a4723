// Package contracttest validates what the running services really send and answer
// against the contracts in api/: HTTP exchanges against the OpenAPI documents
// (kin-openapi's openapi3filter, which validates OpenAPI 3.1 documents with a JSON
// Schema 2020-12 validator) and payment events against the AsyncAPI document's schemas
// (santhosh-tekuri/jsonschema). Tests only.
package contracttest

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/openapi3filter"
	"github.com/getkin/kin-openapi/routers"
	"github.com/getkin/kin-openapi/routers/gorillamux"

	"github.com/epayflow/epayflow/api"
)

// Doc is one OpenAPI document, loaded and validated as a document.
type Doc struct {
	Name   string
	T      *openapi3.T
	router routers.Router
	mu     sync.Mutex
	seen   map[string]bool // "operationId status" validated
}

// OpenAPI loads api/openapi/<name>.yaml, fails the test unless it is a valid OpenAPI
// document, and routes requests of any host (the services run on free ports).
func OpenAPI(t testing.TB, name string) *Doc {
	t.Helper()
	raw, err := api.Files.ReadFile("openapi/" + name + ".yaml")
	if err != nil {
		t.Fatal(err)
	}
	doc, err := openapi3.NewLoader().LoadFromData(raw)
	if err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	if err := doc.Validate(context.Background()); err != nil {
		t.Fatalf("%s is not a valid OpenAPI document: %v", name, err)
	}
	doc.Servers = nil // any host: the test's listener
	r, err := gorillamux.NewRouter(doc)
	if err != nil {
		t.Fatal(err)
	}
	return &Doc{Name: name, T: doc, router: r, seen: map[string]bool{}}
}

// Call sends req (its body is body) with client, validates the answer against the
// document (a status, header or body it does not describe fails the test) and returns
// it with the request's own validation: nil for a request the document allows. A test
// that sends a request the service must refuse asserts that the document refuses it too.
func (d *Doc) Call(t testing.TB, client *http.Client, req *http.Request, body []byte) (resp *http.Response, respBody []byte, reqErr error) {
	t.Helper()
	req.Body = io.NopCloser(bytes.NewReader(body))
	req.ContentLength = int64(len(body))
	resp, err := client.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", req.Method, req.URL, err)
	}
	defer resp.Body.Close()
	respBody, err = io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	reqErr, respErr := d.Check(req, body, resp.StatusCode, resp.Header, respBody)
	if respErr != nil {
		t.Errorf("%s: the answer to %s %s (%d %s) is not what the document says: %v", d.Name, req.Method, req.URL.Path, resp.StatusCode, respBody, respErr)
	}
	return resp, respBody, reqErr
}

// Check validates one exchange: the request (reqErr) and the answer (respErr).
func (d *Doc) Check(req *http.Request, body []byte, status int, h http.Header, respBody []byte) (reqErr, respErr error) {
	vreq := req.Clone(context.Background())
	vreq.Body = io.NopCloser(bytes.NewReader(body))
	route, params, err := d.router.FindRoute(vreq)
	if err != nil {
		return err, fmt.Errorf("no operation for %s %s: %w", req.Method, req.URL.Path, err)
	}
	opts := &openapi3filter.Options{IncludeResponseStatus: true, MultiError: true, AuthenticationFunc: presentCredential}
	in := &openapi3filter.RequestValidationInput{Request: vreq, PathParams: params, Route: route, Options: opts}
	reqErr = openapi3filter.ValidateRequest(context.Background(), in)
	out := &openapi3filter.ResponseValidationInput{RequestValidationInput: in, Status: status, Header: h, Options: opts}
	out.SetBodyBytes(respBody)
	respErr = openapi3filter.ValidateResponse(context.Background(), out)
	if respErr == nil {
		d.mu.Lock()
		d.seen[fmt.Sprintf("%s %d", route.Operation.OperationID, status)] = true
		d.mu.Unlock()
	}
	return reqErr, respErr
}

// Covered fails the test unless an answer of each "operationId status" was validated.
func (d *Doc) Covered(t testing.TB, want ...string) {
	t.Helper()
	d.mu.Lock()
	defer d.mu.Unlock()
	var missing []string
	for _, w := range want {
		if !d.seen[w] {
			missing = append(missing, w)
		}
	}
	if len(missing) > 0 {
		seen := make([]string, 0, len(d.seen))
		for s := range d.seen {
			seen = append(seen, s)
		}
		slices.Sort(seen)
		t.Errorf("%s: no validated answer of %v (validated: %v)", d.Name, missing, seen)
	}
}

// presentCredential accepts a request that carries the credential its security scheme
// names (a Bearer key, a query parameter); whether it is a good one is the service's call.
func presentCredential(_ context.Context, in *openapi3filter.AuthenticationInput) error {
	s := in.SecurityScheme
	r := in.RequestValidationInput.Request
	switch {
	case s.Type == "http" && strings.EqualFold(s.Scheme, "bearer"):
		if scheme, key, ok := strings.Cut(r.Header.Get("Authorization"), " "); ok && strings.EqualFold(scheme, "Bearer") && key != "" {
			return nil
		}
	case s.Type == "apiKey" && s.In == "query":
		if r.URL.Query().Get(s.Name) != "" {
			return nil
		}
	case s.Type == "apiKey" && s.In == "header":
		if r.Header.Get(s.Name) != "" {
			return nil
		}
	}
	return fmt.Errorf("no %s credential (%s)", in.SecuritySchemeName, s.Type)
}
