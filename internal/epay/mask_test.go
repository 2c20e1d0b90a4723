package epay

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestMaskPersonalHidesWhoTheCustomerIsAtAnyDepth(t *testing.T) {
	for _, name := range []string{"success.json", "failure.json"} {
		raw, err := os.ReadFile(filepath.Join("testdata", name))
		if err != nil {
			t.Fatal(err)
		}
		var before map[string]any
		json.Unmarshal(raw, &before)
		masked := MaskPersonal(raw)
		var after map[string]any
		if err := json.Unmarshal(masked, &after); err != nil {
			t.Fatalf("%s: masked view is not JSON: %v", name, err)
		}
		for k, v := range before {
			lk := strings.ToLower(k)
			switch {
			case personalKeys[lk] && v != "" && v != nil:
				if after[k] != Masked {
					t.Errorf("%s: %s = %v, want masked", name, k, after[k])
				}
			case lk == "secret_hash":
				if after[k] != "[redacted]" {
					t.Errorf("%s: secret_hash shown", name)
				}
			default:
				if b1, _ := json.Marshal(v); string(b1) != mustJSON(after[k]) {
					t.Errorf("%s: %s changed: %v -> %v", name, k, v, after[k])
				}
			}
		}
	}
	nested := []byte(`{"check":1,"raw":{"transaction":{"email":"a@b.kz","Phone":"77001234567","cardMask":"440563...5096","amount":12.22,"items":[{"name":"x"}]}}}`)
	got := string(MaskPersonal(nested))
	for _, leak := range []string{"a@b.kz", "77001234567", `"x"`} {
		if strings.Contains(got, leak) {
			t.Errorf("masked view %s still shows %s", got, leak)
		}
	}
	if !strings.Contains(got, "440563...5096") || !strings.Contains(got, "12.22") {
		t.Errorf("masked view %s lost the card mask or the amount's literal", got)
	}
	for _, raw := range []string{`not json`, `{"a":1} {"b":2}`, `{"amount":1}`} {
		if string(MaskPersonal([]byte(raw))) != raw {
			t.Errorf("MaskPersonal(%s) changed a document with nothing to mask (or not JSON)", raw)
		}
	}
}

func mustJSON(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}

// ePay's documented status answer (epayment.kz docs "check-status-payment",
// internal/epayapi/testdata/docs) carries the payment's data as a JSON-encoded string,
// with the customer's email in it: a view for read keys must not show it.
func TestMaskPersonalMasksInsideAJSONString(t *testing.T) {
	raw, err := os.ReadFile(filepath.Join("..", "epayapi", "testdata", "docs", "check-status-payment.json"))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(raw), `\"email\":\"epay@halykbank.kz\"`) {
		t.Fatal("the sample no longer holds an email inside its data string")
	}
	masked := MaskPersonal(raw)
	if strings.Contains(string(masked), "epay@halykbank.kz") {
		t.Errorf("masked view still shows the email inside transaction.data: %s", masked)
	}
	var v struct{ Transaction struct{ Data string } }
	if err := json.Unmarshal(masked, &v); err != nil {
		t.Fatal(err)
	}
	var data map[string]any
	if err := json.Unmarshal([]byte(v.Transaction.Data), &data); err != nil {
		t.Fatalf("transaction.data is no longer a JSON string: %q", v.Transaction.Data)
	}
	if data["email"] != Masked || data["deal_number"] != "1111111" || data["sum"] != float64(33900) {
		t.Errorf("transaction.data masked to %v: want the email masked and the rest kept", data)
	}
	for _, raw := range []string{`{"data":"{\"sum\":1}"}`, `{"data":"[1,2]"}`, `{"data":"{not json"}`, `{"list":["{\"a\":1}"]}`} {
		if got := string(MaskPersonal([]byte(raw))); got != raw {
			t.Errorf("MaskPersonal(%s) = %s: a string with nothing to mask changed", raw, got)
		}
	}
	for _, raw := range []string{`{"data":"[{\"email\":\"a@b.kz\"}]"}`, `{"data":" \n{\"email\":\"a@b.kz\"}"}`} {
		if got := string(MaskPersonal([]byte(raw))); strings.Contains(got, "a@b.kz") {
			t.Errorf("MaskPersonal(%s) = %s: an array, or an object after spaces, is JSON too", raw, got)
		}
	}
	if got := string(MaskPersonal([]byte(`{"list":["{\"phone\":\"77001234567\"}"]}`))); strings.Contains(got, "77001234567") {
		t.Errorf("a JSON string in an array: %s", got)
	}
}
