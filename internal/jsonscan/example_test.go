package jsonscan_test

import (
	"fmt"

	"github.com/epayflow/epayflow/internal/jsonscan"
)

func ExampleScanObject() {
	sc := jsonscan.ScanObject([]byte(`{"amount": "12.22", "reasonCode": -498, "extra": {"a": [1]}}`))
	for sc.Next() {
		text, err := jsonscan.ScalarText(sc.Value())
		fmt.Printf("%s = %s: %q %v\n", sc.Key(), sc.Value(), text, err)
	}
	fmt.Println(sc.Err())
	// Output:
	// "amount" = "12.22": "12.22" <nil>
	// "reasonCode" = -498: "-498" <nil>
	// "extra" = {"a": [1]}: "" an object or array where a scalar belongs
	// <nil>
}

func ExampleScanObject_notJSON() {
	sc := jsonscan.ScanObject([]byte(`{"id": "1",}`))
	for sc.Next() {
		fmt.Printf("%s\n", sc.Key())
	}
	err := sc.Err()
	fmt.Println(err, err.(*jsonscan.Error).Offset)
	// Output:
	// "id"
	// invalid character '}' looking for beginning of object key string 12
}

func ExampleReplaceValue() {
	out, err := jsonscan.ReplaceValue([]byte(`{"secret_hash": "A2345", "nested": {"secret_hash": 1}}`), "secret_hash", []byte(`"[redacted]"`))
	fmt.Println(string(out), err)
	// Output:
	// {"secret_hash": "[redacted]", "nested": {"secret_hash": 1}} <nil>
}
