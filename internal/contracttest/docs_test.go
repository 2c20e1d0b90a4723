package contracttest

import (
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/getkin/kin-openapi/openapi3"

	"github.com/epayflow/epayflow/internal/bolt"
	"github.com/epayflow/epayflow/internal/events"
	"github.com/epayflow/epayflow/internal/initiator"
	"github.com/epayflow/epayflow/internal/invoice"
	"github.com/epayflow/epayflow/internal/webhooks"
	"github.com/epayflow/epayflow/internal/worker"
)

// Every document loads and is a valid OpenAPI 3.1 or AsyncAPI 3.0 document.
func TestTheDocumentsLoadAndAreValid(t *testing.T) {
	for _, name := range []string{"initiator", "worker", "ingest", "webhooks"} {
		if d := OpenAPI(t, name); !strings.HasPrefix(d.T.OpenAPI, "3.1") {
			t.Errorf("%s: openapi %s, want 3.1", name, d.T.OpenAPI)
		}
	}
	ev := AsyncAPI(t)
	subjects := ev.Subjects()
	slices.Sort(subjects)
	if want := []string{"payments.cancelled", "payments.charged", "payments.failed", "payments.paid", "payments.refunded", "payments.review"}; !slices.Equal(subjects, want) {
		t.Fatalf("channels %v, want %v", subjects, want)
	}
	// the event types the code makes are the channels, and exactly the types a webhook
	// endpoint may name (a mistyped one is refused, not registered to match nothing)
	var channels []string
	for _, et := range invoice.EventTypes {
		channels = append(channels, events.Subject(et))
	}
	types := events.Types
	slices.Sort(channels)
	if !slices.Equal(channels, subjects) {
		t.Errorf("invoice.EventTypes make channels %v, the document has %v", channels, subjects)
	}
	var enum []string
	for _, v := range OpenAPI(t, "webhooks").T.Components.Schemas["EventType"].Value.Enum {
		enum = append(enum, v.(string))
	}
	if !slices.Equal(enum, types) {
		t.Errorf("webhooks EventType enum %v, want %v", enum, types)
	}
}

// jsonNames are the JSON keys encoding/json writes for a struct type (embedded structs
// flattened, "-" left out).
func jsonNames(t reflect.Type) []string {
	var out []string
	for f := range t.Fields() {
		tag := f.Tag.Get("json")
		name, _, _ := strings.Cut(tag, ",")
		switch {
		case name == "-" || !f.IsExported():
			continue
		case f.Anonymous && name == "":
			out = append(out, jsonNames(f.Type)...)
			continue
		case name == "":
			name = f.Name
		}
		out = append(out, name)
	}
	slices.Sort(out)
	return out
}

func properties(s *openapi3.Schema) []string {
	out := make([]string, 0, len(s.Properties))
	for k := range s.Properties {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}

// The closed schemas name exactly the fields the code writes: a field added to a
// response or an event without the document (or the other way round) fails here, even
// one that is omitted when empty and so may never show in a test's answers.
func TestClosedSchemasNameExactlyTheFieldsTheCodeWrites(t *testing.T) {
	ini, wrk, wh := OpenAPI(t, "initiator"), OpenAPI(t, "worker"), OpenAPI(t, "webhooks")
	tests := []struct {
		doc    *Doc
		schema string
		typ    any
	}{
		{ini, "PaymentCreated", initiator.Created{}},
		{ini, "PaymentObject", initiator.PaymentObject{}},
		{ini, "InvoiceState", initiator.InvoiceView{}},
		{wrk, "InvoiceView", events.View{}},
		{wrk, "InvoiceWithHistory", worker.InvoiceResponse{}},
		{wrk, "HistoryEntry", bolt.HistoryEntry{}},
		{wrk, "Resolution", events.Resolution{}},
		{wrk, "InvoiceList", worker.InvoiceList{}},
		{wrk, "ResolveRequest", worker.ResolveRequest{}},
		{wrk, "ResolveAccepted", worker.ResolveAccepted{}},
		{wh, "NewEndpoint", webhooks.NewEndpoint{}},
		{wh, "Endpoint", webhooks.View{}},
		{wh, "Created", webhooks.Created{}},
		{wh, "Attempt", webhooks.Attempt{}},
		{wh, "DeadLetter", webhooks.DeadLetter{}},
		{wrk, "Operation", invoice.Operation{}},
		{wrk, "OperationRequest", worker.OperationRequest{}},
		{wrk, "OperationResponse", worker.OperationResponse{}},
	}
	for _, tt := range tests {
		s := tt.doc.T.Components.Schemas[tt.schema].Value
		if s.AdditionalProperties.Has == nil || *s.AdditionalProperties.Has {
			t.Errorf("%s %s is not closed (additionalProperties: false)", tt.doc.Name, tt.schema)
		}
		if got, want := properties(s), jsonNames(reflect.TypeOf(tt.typ)); !slices.Equal(got, want) {
			t.Errorf("%s %s has %v, the code writes %v", tt.doc.Name, tt.schema, got, want)
		}
	}
	ev := AsyncAPIDoc(t)
	for schema, typ := range map[string]any{"PaymentEvent": events.CloudEvent{}, "Data": events.Data{}} {
		props := ev["components"].(map[string]any)["schemas"].(map[string]any)[schema].(map[string]any)["properties"].(map[string]any)
		var got []string
		for k := range props {
			got = append(got, k)
		}
		slices.Sort(got)
		if want := jsonNames(reflect.TypeOf(typ)); !slices.Equal(got, want) {
			t.Errorf("asyncapi %s has %v, the code writes %v", schema, got, want)
		}
	}
}

// orderId and metadata are one rule in both documents that show them.
func TestReferencesAreTheSameRuleInBothDocuments(t *testing.T) {
	ini, wrk := OpenAPI(t, "initiator"), OpenAPI(t, "worker")
	for _, name := range []string{"OrderId", "Metadata"} {
		a, b := ini.T.Components.Schemas[name].Value, wrk.T.Components.Schemas[name].Value
		a2, b2 := *a, *b
		a2.Description, b2.Description = "", ""
		ja, _ := a2.MarshalJSON()
		jb, _ := b2.MarshalJSON()
		if string(ja) != string(jb) {
			t.Errorf("%s differs:\ninitiator %s\nworker    %s", name, ja, jb)
		}
	}
}
