package epaytest

import (
	"fmt"
	"reflect"
	"slices"
	"sort"
)

// ShapeDiff lists how a decoded JSON body differs in shape from one of ePay's documented
// samples (internal/epay/testdata): a key of the sample it lacks, a key the sample lacks
// (unless it is one of extra, such as secret_hash), a value of another JSON type. It is
// empty when body has the sample's shape. Both maps come from json.Unmarshal.
func ShapeDiff(body, sample map[string]any, extra ...string) []string {
	var diff []string
	for k, v := range sample {
		g, ok := body[k]
		switch {
		case !ok:
			diff = append(diff, fmt.Sprintf("field %q of the sample is missing", k))
		case reflect.TypeOf(g) != reflect.TypeOf(v):
			diff = append(diff, fmt.Sprintf("field %q is a %T, the sample has a %T", k, g, v))
		}
	}
	for k := range body {
		if _, ok := sample[k]; !ok && !slices.Contains(extra, k) {
			diff = append(diff, fmt.Sprintf("field %q is not in the sample", k))
		}
	}
	sort.Strings(diff)
	return diff
}
