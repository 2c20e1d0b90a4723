package contracttest

import (
	"bytes"
	"fmt"
	"net/http"
	"path"
	"strings"
	"testing"

	"github.com/santhosh-tekuri/jsonschema/v6"
	"sigs.k8s.io/yaml"

	"github.com/epayflow/epayflow/api"
)

// Events are the AsyncAPI document's message schemas, by channel address
// ("payments.paid"): each message's payload and headers schemas, compiled as JSON Schema
// draft-07 (the payload's declared schemaFormat), formats asserted.
type Events struct {
	payload map[string]*jsonschema.Schema
	headers map[string]*jsonschema.Schema
}

const asyncAPIFile = "asyncapi/payment-events.yaml"

// AsyncAPI compiles the schemas of every message of every channel of
// api/asyncapi/payment-events.yaml; $refs into the OpenAPI documents are followed.
func AsyncAPI(t testing.TB) *Events {
	t.Helper()
	doc, err := loadYAML(asyncAPIFile)
	if err != nil {
		t.Fatal(err)
	}
	c := jsonschema.NewCompiler()
	c.DefaultDraft(jsonschema.Draft7)
	c.AssertFormat()
	c.UseLoader(embedLoader{})
	ev := &Events{payload: map[string]*jsonschema.Schema{}, headers: map[string]*jsonschema.Schema{}}
	root := doc.(map[string]any)
	if root["asyncapi"] != "3.0.0" {
		t.Fatalf("%s: asyncapi %v, want 3.0.0", asyncAPIFile, root["asyncapi"])
	}
	for name, ch := range root["channels"].(map[string]any) {
		ch := ch.(map[string]any)
		addr, _ := ch["address"].(string)
		for _, m := range ch["messages"].(map[string]any) {
			msg, err := resolve(root, m.(map[string]any)["$ref"])
			if err != nil {
				t.Fatalf("channel %s: %v", name, err)
			}
			payload := msg["payload"].(map[string]any)
			if f := payload["schemaFormat"]; f != "application/schema+json;version=draft-07" {
				t.Fatalf("channel %s: schemaFormat %v, want draft-07", name, f)
			}
			ref := payload["schema"].(map[string]any)["$ref"].(string)
			if ev.payload[addr], err = c.Compile(fileURL(asyncAPIFile) + ref); err != nil {
				t.Fatalf("channel %s payload: %v", name, err)
			}
			href := msg["headers"].(map[string]any)["$ref"].(string)
			if ev.headers[addr], err = c.Compile(fileURL(asyncAPIFile) + href); err != nil {
				t.Fatalf("channel %s headers: %v", name, err)
			}
		}
	}
	if len(ev.payload) == 0 {
		t.Fatalf("%s: no channel", asyncAPIFile)
	}
	return ev
}

// Subjects are the channels' addresses.
func (e *Events) Subjects() []string {
	out := make([]string, 0, len(e.payload))
	for s := range e.payload {
		out = append(out, s)
	}
	return out
}

// Validate checks one message of subject: its headers (the first value of each) and its
// body against the channel's schemas. A subject no channel has is an error.
func (e *Events) Validate(subject string, h http.Header, body []byte) error {
	ps, ok := e.payload[subject]
	if !ok {
		return fmt.Errorf("no channel for subject %q in %s", subject, asyncAPIFile)
	}
	v, err := jsonschema.UnmarshalJSON(bytes.NewReader(body))
	if err != nil {
		return fmt.Errorf("%s: not JSON: %w", subject, err)
	}
	if err := ps.Validate(v); err != nil {
		return fmt.Errorf("%s payload: %w", subject, err)
	}
	hv := map[string]any{}
	for k, vals := range h {
		if len(vals) > 0 {
			hv[k] = vals[0]
		}
	}
	if err := e.headers[subject].Validate(hv); err != nil {
		return fmt.Errorf("%s headers: %w", subject, err)
	}
	return nil
}

// resolve follows a local "#/a/b" reference in root.
func resolve(root any, ref any) (map[string]any, error) {
	s, _ := ref.(string)
	if !strings.HasPrefix(s, "#/") {
		return nil, fmt.Errorf("not a local reference: %v", ref)
	}
	cur := root
	for _, tok := range strings.Split(s[2:], "/") {
		m, ok := cur.(map[string]any)
		if !ok {
			return nil, fmt.Errorf("%s: no %s", s, tok)
		}
		cur = m[tok]
	}
	out, ok := cur.(map[string]any)
	if !ok {
		return nil, fmt.Errorf("%s: not an object", s)
	}
	return out, nil
}

// The documents are read from api.Files under file:///api/.
const base = "file:///api/"

func fileURL(name string) string { return base + name }

// embedLoader reads file:///api/... from api.Files, YAML as JSON.
type embedLoader struct{}

func (embedLoader) Load(url string) (any, error) {
	name, ok := strings.CutPrefix(url, base)
	if !ok {
		return nil, fmt.Errorf("only the documents of api/ may be referred to, not %s", url)
	}
	return loadYAML(path.Clean(name))
}

func loadYAML(name string) (any, error) {
	raw, err := api.Files.ReadFile(name)
	if err != nil {
		return nil, err
	}
	j, err := yaml.YAMLToJSON(raw)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	return jsonschema.UnmarshalJSON(bytes.NewReader(j))
}

// AsyncAPIDoc is the AsyncAPI document as JSON values.
func AsyncAPIDoc(t testing.TB) map[string]any {
	t.Helper()
	doc, err := loadYAML(asyncAPIFile)
	if err != nil {
		t.Fatal(err)
	}
	return doc.(map[string]any)
}
