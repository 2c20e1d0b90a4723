package jsonw

import (
	"encoding/json"
	"strconv"
	"testing"
	"time"
)

// marshal is json.Marshal's bytes of v, or "error".
func marshal(t *testing.T, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		return "error"
	}
	return string(b)
}

func end(o *Object) string {
	b, err := o.End()
	if err != nil {
		return "error"
	}
	return string(b)
}

func FuzzAppendStringIsMarshal(f *testing.F) {
	for _, s := range []string{"", "plain", "<&>", "\"\\", "\x00\b\f\n\r\t\x1f\x7f", "\u2028\u2029", "\xff", "\xe2\x80", "\xe2\x80\xa8x", "é😀"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if got, want := string(AppendString([]byte("x"), s)), "x"+marshal(t, s); got != want {
			t.Fatalf("AppendString(%q) = %s, want %s", s, got, want)
		}
	})
}

func FuzzRawOmitEmptyIsMarshal(f *testing.F) {
	for _, s := range []string{"", `{"a":1}`, `{ "a" : [1, 2] }`, `{"h":"<b>"}`, "\"\u2028\"", `"a\"<"`, `"a\\" `, `{`, "\n1\n", `"\xff"`, `"x y"`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, raw []byte) {
		o := Start(nil)
		o.RawOmitEmpty("r", raw)
		want := marshal(t, struct {
			R json.RawMessage `json:"r,omitempty"`
		}{raw})
		if got := end(&o); got != want {
			t.Fatalf("RawOmitEmpty(%q) = %s, want %s", raw, got, want)
		}
	})
}

// Every member writer against the struct field it mirrors, zero and not.
func TestMembersAreMarshal(t *testing.T) {
	type all struct {
		S  string            `json:"s"`
		SE string            `json:"se,omitempty"`
		I  int64             `json:"i"`
		IE int64             `json:"ie,omitempty"`
		B  bool              `json:"b,omitempty"`
		BT bool              `json:"bt"`
		T  time.Time         `json:"t"`
		TZ time.Time         `json:"tz,omitzero"`
		L  []string          `json:"l"`
		LE []string          `json:"le,omitempty"`
		U  []uint64          `json:"u"`
		M  map[string]string `json:"m,omitempty"`
		Y  []byte            `json:"y,omitempty"`
		V  any               `json:"v"`
	}
	write := func(v all) string {
		o := Start([]byte("prefix:"))
		o.String("s", v.S)
		o.StringOmitEmpty("se", v.SE)
		o.Int("i", v.I)
		o.IntOmitEmpty("ie", v.IE)
		o.BoolOmitEmpty("b", v.B)
		o.Bool("bt", v.BT)
		o.Time("t", v.T)
		o.TimeOmitZero("tz", v.TZ)
		o.Strings("l", v.L)
		o.StringsOmitEmpty("le", v.LE)
		o.Uints("u", v.U)
		o.StringMapOmitEmpty("m", v.M)
		o.BytesOmitEmpty("y", v.Y)
		o.Value("v", v.V)
		return end(&o)
	}
	now := time.Now()
	for _, v := range []all{
		{},
		{S: "<a>", SE: "x", I: -7, IE: 9, B: true, BT: true, T: now, TZ: now.In(time.FixedZone("", 5*3600)), L: []string{}, LE: []string{"a", "\xff"},
			U: []uint64{}, M: map[string]string{"b": "2", "a": "<1>", "\u2028": ""}, Y: []byte{0, 1, 255}, V: []int{1}},
		{L: []string{"x"}, U: []uint64{1, 1 << 63}, M: map[string]string{}, Y: []byte{}},
		{T: time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC)},
		{TZ: time.Date(-1, 1, 1, 0, 0, 0, 0, time.UTC)},
		{V: func() {}},
	} {
		want := marshal(t, v)
		if want != "error" {
			want = "prefix:" + want
		}
		if got := write(v); got != want {
			t.Errorf("%+v:\n got %s\nwant %s", v, got, want)
		}
	}
}

// A nested object and an array of encoded values, as Marshal writes a struct holding
// them; an error inside the nested object is the outer one's.
func TestObjectAndEncoded(t *testing.T) {
	o := Start(nil)
	in := o.Object("in")
	in.String("a", "1")
	o.Close(&in)
	o.Encoded("none")
	o.Encoded("e", [][]byte{[]byte(`1`)}, nil, [][]byte{[]byte(`{"x":2}`), []byte(`"3"`)})
	if got, want := end(&o), `{"in":{"a":"1"},"none":[],"e":[1,{"x":2},"3"]}`; got != want {
		t.Fatalf("got %s, want %s", got, want)
	}
	o = Start(nil)
	in = o.Object("in")
	in.Time("t", time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC))
	o.Close(&in)
	o.String("after", "x")
	if b, err := o.End(); err == nil {
		t.Fatalf("an unencodable time inside a nested object: %s, no error", b)
	}
}

// A callback ePay sends, as an event carries it: what RawOmitEmpty checks for each event.
var callback = []byte(`{"id":"8be5bd3a-5f8f-4a5b-a7b5-2a0e9e8e6d7b","dateTime":"2026-12-03T10:15:30.123456+05:00","invoiceId":"000000001","invoiceIdAlt":"","amount":100,"currency":"KZT","terminal":"67e34d63-102f-4bd1-898e-370781d0074d","accountId":"uuid-1","description":"Оплата заказа","language":"rus","cardMask":"440043...0128","cardType":"VISA","issuer":"HALYK BANK","reference":"123456789012","secure":"yes","tokenRecipient":"","code":"ok","reason":"","reasonCode":0,"name":"NAME SURNAME","email":"","phone":"","ip":"10.0.0.1","ipCountry":"KZ","ipCity":"ALMATY","ipRegion":"","ipDistrict":"","ipLongitude":76.9,"ipLatitude":43.2,"cardId":"","secret_hash":"[redacted]"}`)

func BenchmarkRawOmitEmpty(b *testing.B) {
	buf := make([]byte, 0, 2048)
	b.SetBytes(int64(len(callback)))
	for b.Loop() {
		o := Start(buf[:0])
		o.RawOmitEmpty("callback", callback)
		if _, err := o.End(); err != nil {
			b.Fatal(err)
		}
	}
}

// canonical takes what Marshal would copy as it is (the fast path: no second encoding)
// and refuses whatever Marshal would change.
func TestCanonical(t *testing.T) {
	for doc, want := range map[string]bool{
		`{"a":1,"b":[true,null],"c":"x y"}`:    true,
		`{"q":"a\"b\\c","u":"\u003c"}`:         true,
		`{"ru":"Оплата","e":"\u2028 escaped"}`: true,
		`{"a": 1}`:                 false,
		"{\"a\":1}\n":              false,
		`{"h":"<b>"}`:              false,
		`{"h":"a>b"}`:              false,
		`{"h":"a&b"}`:              false,
		"{\"s\":\"\u2028\"}":       false,
		"{\"s\":\"\u2029\"}":       false,
		"{\"s\":\"\u2027\u202a\"}": true,
	} {
		if got := canonical([]byte(doc)); got != want {
			t.Errorf("canonical(%s) = %v, want %v", doc, got, want)
		}
	}
}

// cents appends itself as an amount does.
type cents int64

func (c cents) AppendJSON(b []byte) []byte { return strconv.AppendInt(b, int64(c), 10) }

func (c cents) MarshalJSON() ([]byte, error) { return c.AppendJSON(nil), nil }

func TestAppendedIsMarshal(t *testing.T) {
	type amounts struct {
		A cents `json:"a"`
		E cents `json:"e,omitempty"`
	}
	for _, v := range []amounts{{}, {A: -5, E: 7}, {A: 3}} {
		o := Start(nil)
		Appended(&o, "a", v.A)
		AppendedOmitEmpty(&o, "e", v.E)
		if got, want := end(&o), marshal(t, v); got != want {
			t.Errorf("%+v: got %s, want %s", v, got, want)
		}
	}
}
