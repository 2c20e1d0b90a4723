// Package jsonwtest holds an encoder written with jsonw to json.Marshal: it fills every
// field of the struct the encoder mirrors, at any depth, with values chosen to break an
// encoder (zero and not, strings Marshal escapes, invalid UTF-8, times Marshal refuses,
// raw JSON that is not compact) and asks for the same bytes, or an error from both.
// A field added to the struct and not to its encoder fails it.
package jsonwtest

import (
	"encoding/json"
	"math/rand/v2"
	"reflect"
	"strings"
	"testing"
	"time"
)

// Strings are the strings a field is given.
var Strings = []string{
	"", "plain", "KZT", "<script>&amp;</script>", `quote " and back \ slash`,
	"\x00\x01\x1f\b\f\n\r\t\x7f", "line\u2028para\u2029", "bad \xff\xfe utf-8 \xe2\x80",
	"Оплата заказа №42 — Қазақстан", "emoji 😀", "\u00e9\u0301",
}

// Raws are the raw JSON values a json.RawMessage field is given.
var Raws = []string{
	`{"invoiceId":"000001","amount":100,"code":"ok"}`,
	`{ "a" : 1 ,"b":[1, 2] }`,
	`{"html":"<b>&</b>"}`,
	"{\"sep\":\"\u2028\"}",
	`{"esc":"a\"b\\c","s":"x y"}`,
	`[1,2,{"a":null}]`,
	`"text"`,
	`{"bad":`,
	"\n{\"lead\":true}\n",
}

// Fill sets v (a pointer) to random values: each field of a struct, at any depth, is
// left zero about a quarter of the time.
func Fill(r *rand.Rand, v any) {
	fill(r, reflect.ValueOf(v).Elem(), 0)
}

var (
	timeType = reflect.TypeFor[time.Time]()
	rawType  = reflect.TypeFor[json.RawMessage]()
)

func fill(r *rand.Rand, v reflect.Value, depth int) {
	if r.IntN(4) == 0 && depth > 0 {
		v.SetZero()
		return
	}
	switch {
	case v.Type() == timeType:
		v.Set(reflect.ValueOf(randomTime(r)))
		return
	case v.Type() == rawType:
		v.SetBytes([]byte(Raws[r.IntN(len(Raws))]))
		return
	}
	switch v.Kind() {
	case reflect.String:
		v.SetString(randomString(r))
	case reflect.Bool:
		v.SetBool(r.IntN(2) == 0)
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		n := r.Int64N(1 << (v.Type().Bits() - 2))
		if r.IntN(2) == 0 {
			n = -n
		}
		v.SetInt(n)
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		v.SetUint(r.Uint64() >> (64 - v.Type().Bits()))
	case reflect.Pointer:
		p := reflect.New(v.Type().Elem())
		fill(r, p.Elem(), depth+1)
		v.Set(p)
	case reflect.Slice:
		n := r.IntN(4)
		s := reflect.MakeSlice(v.Type(), n, n)
		for i := range n {
			fill(r, s.Index(i), depth+1)
		}
		v.Set(s)
	case reflect.Map:
		m := reflect.MakeMap(v.Type())
		for range r.IntN(4) {
			k := reflect.New(v.Type().Key()).Elem()
			e := reflect.New(v.Type().Elem()).Elem()
			fill(r, k, depth+1)
			fill(r, e, depth+1)
			m.SetMapIndex(k, e)
		}
		v.Set(m)
	case reflect.Struct:
		for i := range v.NumField() {
			if v.Type().Field(i).IsExported() {
				fill(r, v.Field(i), depth+1)
			}
		}
	default:
		panic("jsonwtest: cannot fill a " + v.Type().String())
	}
}

func randomString(r *rand.Rand) string {
	if r.IntN(4) == 0 { // a few of them, glued
		var b strings.Builder
		for range 1 + r.IntN(3) {
			b.WriteString(Strings[r.IntN(len(Strings))])
		}
		return b.String()
	}
	return Strings[r.IntN(len(Strings))]
}

func randomTime(r *rand.Rand) time.Time {
	if r.IntN(64) == 0 {
		return time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC) // Marshal refuses it
	}
	switch r.IntN(6) {
	case 0:
		return time.Time{}
	case 1:
		return time.Now() // with a monotonic reading
	case 2:
		return time.Date(2026, 12, 3, 4, 5, 6, 0, time.FixedZone("ALMT", 5*3600))
	default:
		return time.Unix(r.Int64N(4e9), r.Int64N(1e9)).UTC()
	}
}

// Check fills a T n times (seeded, so a failure repeats) and holds enc to json.Marshal.
// A few of the values hold a time Marshal refuses: both must then fail.
func Check[T any](t *testing.T, n int, enc func(*T) ([]byte, error)) {
	t.Helper()
	r := rand.New(rand.NewPCG(1, 2))
	var refused, failed int
	for i := range n {
		var v T
		Fill(r, &v)
		want, wantErr := json.Marshal(&v)
		got, err := enc(&v)
		switch {
		case (wantErr == nil) != (err == nil):
			t.Fatalf("value %d: json.Marshal error %v, encoder error %v\nvalue: %#v", i, wantErr, err, v)
		case err != nil:
			refused++
		case string(got) != string(want):
			failed++
			if failed <= 3 {
				t.Errorf("value %d:\n got: %s\nwant: %s", i, got, want)
			}
		}
	}
	if failed > 0 {
		t.Fatalf("%d of %d values encoded differently", failed, n)
	}
	if refused == 0 || refused == n {
		t.Fatalf("%d of %d values refused: the check needs both sorts", refused, n)
	}
}
