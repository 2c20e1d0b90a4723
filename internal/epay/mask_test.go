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
