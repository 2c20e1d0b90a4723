package jsonscan

import (
	"errors"
	"testing"
)

func TestScalarText(t *testing.T) {
	tests := []struct {
		v, want string
		inPlace bool
		err     error
	}{
		{`"ok"`, "ok", true, nil},
		{`" 123456 \n"`, "123456", false, nil},     // an escaped newline is a space once decoded
		{"\" 123456\u00a0\"", "123456", true, nil}, // a no-break space, unescaped
		{`"A\u00e9\"B"`, `Aé"B`, false, nil},
		{`" \n x \t"`, "x", false, nil},
		{"\"\xff\"", "\ufffd", false, nil},
		{`""`, "", true, nil},
		{`12.22`, "12.22", true, nil},
		{`-498`, "-498", true, nil},
		{`1e400`, "1e400", true, nil},
		{`true`, "true", true, nil},
		{`false`, "false", true, nil},
		{`null`, "", true, nil},
		{``, "", true, nil},
		{`{"a":1}`, "", false, ErrNotScalar},
		{`[1]`, "", false, ErrNotScalar},
	}
	for _, tt := range tests {
		got, err := ScalarText([]byte(tt.v))
		if got != tt.want || !errors.Is(err, tt.err) || (tt.err == nil) != (err == nil) {
			t.Errorf("ScalarText(%s) = %q, %v; want %q, %v", tt.v, got, err, tt.want, tt.err)
		}
		in, ok := InPlaceText([]byte(tt.v))
		if ok != tt.inPlace || ok && string(in) != tt.want {
			t.Errorf("InPlaceText(%s) = %q, %v; want %v", tt.v, in, ok, tt.inPlace)
		}
	}
}

func TestInPlaceTextIsAPartOfTheValue(t *testing.T) {
	v := []byte(`"  abc "`)
	text, ok := InPlaceText(v)
	if !ok || string(text) != "abc" || !within(text, v) {
		t.Fatalf("InPlaceText = %q, %v", text, ok)
	}
	if n := testing.AllocsPerRun(100, func() { InPlaceText(v) }); n != 0 {
		t.Errorf("%v allocations", n)
	}
}

func TestRawStringAndUnquote(t *testing.T) {
	for lit, want := range map[string]struct {
		plain bool
		s     string
	}{
		`"abc"`:       {true, "abc"},
		`""`:          {true, ""},
		`"a\"b"`:      {false, `a"b`},
		`"\u0041"`:    {false, "A"},
		"\"\xff\"":    {false, "\ufffd"},
		`"é"`:         {true, "é"},
		`"\ud800x"`:   {false, "\ufffdx"},
		`"tab\there"`: {false, "tab\there"},
	} {
		content, plain := RawString([]byte(lit))
		if plain != want.plain || plain && string(content) != want.s {
			t.Errorf("RawString(%s) = %q, %v", lit, content, plain)
		}
		if s, err := Unquote([]byte(lit)); err != nil || s != want.s {
			t.Errorf("Unquote(%s) = %q, %v; want %q", lit, s, err, want.s)
		}
	}
}
