package epay

import (
	"bufio"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
)

// The fixtures: ePay's kody-oshibok page as far as our copies reach, one table row per
// code, and the page excerpts themselves (testdata/reasons/{en,ru,kk}.txt).
const (
	reasonsFixture = "testdata/reasons/kody-oshibok.tsv"
	excerptCut     = "…[excerpt cut here]" // ends an official text the excerpt cuts off
)

var reasonLangs = []string{"en", "ru", "kk"}

// fixtureRow is one code of kody-oshibok.tsv: its official texts and finality flags by
// language ("?" where the page was not reached).
type fixtureRow struct {
	code  int
	text  map[string]string // "en", "ru", "kk"
	final map[string]string // "yes", "no" or "?"
}

func readReasonFixture(t *testing.T) []fixtureRow {
	t.Helper()
	f, err := os.Open(reasonsFixture)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var (
		col  map[string]int
		rows []fixtureRow
	)
	sc := bufio.NewScanner(f)
	sc.Buffer(nil, 1<<20)
	for n := 1; sc.Scan(); n++ {
		line := sc.Text()
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		fields := strings.Split(line, "\t")
		if col == nil {
			col = make(map[string]int, len(fields))
			for i, name := range fields {
				col[name] = i
			}
			for _, l := range reasonLangs {
				if _, ok := col[l+"_text"]; !ok {
					t.Fatalf("%s: header has no %s_text column: %q", reasonsFixture, l, line)
				}
				if _, ok := col["final_"+l]; !ok {
					t.Fatalf("%s: header has no final_%s column: %q", reasonsFixture, l, line)
				}
			}
			continue
		}
		if len(fields) != len(col) {
			t.Fatalf("%s:%d: %d fields, want %d", reasonsFixture, n, len(fields), len(col))
		}
		code, err := strconv.Atoi(fields[col["code"]])
		if err != nil {
			t.Fatalf("%s:%d: code: %v", reasonsFixture, n, err)
		}
		r := fixtureRow{code: code, text: map[string]string{}, final: map[string]string{}}
		for _, l := range reasonLangs {
			r.text[l] = fields[col[l+"_text"]]
			r.final[l] = fields[col["final_"+l]]
			if f := r.final[l]; f != "yes" && f != "no" && f != "?" {
				t.Fatalf("%s:%d: final_%s = %q, want yes, no or ?", reasonsFixture, n, l, f)
			}
		}
		rows = append(rows, r)
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	if len(rows) == 0 {
		t.Fatalf("%s: no rows", reasonsFixture)
	}
	return rows
}

// docFinality is the finality the page gives a row: not final if any language says so
// (the safe reading where they disagree), final if some language says final, else unknown.
func (r fixtureRow) docFinality() Finality {
	f := FinalityUnknown
	for _, l := range reasonLangs {
		switch r.final[l] {
		case "no":
			return NotFinal
		case "yes":
			f = Final
		}
	}
	return f
}

func reasonIn(r ReasonText, lang string) string {
	switch lang {
	case "en":
		return r.EN
	case "ru":
		return r.RU
	}
	return r.KK
}

// Every official text and flag of the fixture is the table's.
// A text the excerpt cuts off is completed only with the whole text of another row of
// the page that starts the same way (466 shares 462/463's sentence).
func TestReasonTableMatchesKodyOshibokFixture(t *testing.T) {
	rows := readReasonFixture(t)
	whole := map[string][]string{} // by language: the page's uncut texts
	for _, row := range rows {
		for _, l := range reasonLangs {
			if s := row.text[l]; s != "?" && !strings.HasSuffix(s, excerptCut) {
				whole[l] = append(whole[l], s)
			}
		}
	}
	checked := 0
	for _, row := range rows {
		got, ok := Reason(row.code)
		for _, l := range reasonLangs {
			want := row.text[l]
			if want == "?" {
				continue
			}
			checked++
			if !ok {
				t.Errorf("code %d: not in the table; the page has it (%s %q)", row.code, l, want)
				continue
			}
			g := reasonIn(got, l)
			if prefix, cut := strings.CutSuffix(want, excerptCut); cut {
				var completions []string
				for _, s := range whole[l] {
					if strings.HasPrefix(s, prefix) {
						completions = append(completions, s)
					}
				}
				if !strings.HasPrefix(g, prefix) || len(g) <= len(prefix) ||
					(len(completions) > 0 && !slices.Contains(completions, g)) {
					t.Errorf("code %d %s = %q, want the page's text, which starts %q, completed as another row of the page (%q)",
						row.code, l, g, prefix, completions)
				}
			} else if g != want {
				t.Errorf("code %d %s = %q, want the page's %q", row.code, l, g, want)
			}
		}
		if want := row.docFinality(); want != FinalityUnknown {
			checked++
			if got := ReasonFinality(row.code); got != want {
				t.Errorf("ReasonFinality(%d) = %v, want %v (page: en %s, ru %s, kk %s)",
					row.code, got, want, row.final["en"], row.final["ru"], row.final["kk"])
			}
		}
	}
	if checked < 60 { // 0 and 454..479 in up to three languages, and their flags
		t.Errorf("checked only %d official texts and flags; is the fixture complete?", checked)
	}
}

// The fixture's official columns are the page excerpts, word for word.
func TestReasonFixtureMatchesPageExcerpts(t *testing.T) {
	finalWords := map[string]map[string]string{
		"en": {"final": "yes", "not final, you need to request payment/transfer status": "no"},
		"ru": {"финальный": "yes", "не финальный, необходимо запросить статус оплаты/перевода": "no"},
		"kk": {"соңғысы": "yes", "соңғы емес, төлем/аударым мәртебесін сұрату қажет": "no"},
	}
	rows := map[int]fixtureRow{}
	for _, r := range readReasonFixture(t) {
		rows[r.code] = r
	}
	for _, l := range reasonLangs {
		name := filepath.Join("testdata", "reasons", l+".txt")
		b, err := os.ReadFile(name)
		if err != nil {
			t.Fatal(err)
		}
		lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
		if !strings.HasPrefix(lines[0], "URL: https://epayment.kz/") || !strings.Contains(lines[0], "/docs/kody-oshibok") {
			t.Errorf("%s: first line %q, want the page's URL", name, lines[0])
		}
		seen := map[int]bool{}
		for i, line := range lines[1:] {
			last := i == len(lines)-2
			cells := strings.Split(strings.Trim(line, "| "), " | ")
			code, err := strconv.Atoi(cells[0])
			if err != nil || len(cells) > 3 || len(cells) < 2 || (len(cells) == 2 && !last) {
				t.Fatalf("%s: row %q: want | code | text | finality |", name, line)
			}
			seen[code] = true
			row, ok := rows[code]
			if !ok {
				t.Errorf("%s: code %d is not in %s", name, code, reasonsFixture)
				continue
			}
			text, fin := cells[1], "?"
			if len(cells) == 3 {
				if fin, ok = finalWords[l][cells[2]]; !ok {
					t.Errorf("%s: code %d: finality %q is not the page's wording", name, code, cells[2])
				}
			} else {
				text += excerptCut // the excerpt ends inside this row
			}
			if row.text[l] != text || row.final[l] != fin {
				t.Errorf("%s: code %d: fixture has %s text %q final %s, the excerpt %q %s",
					name, code, l, row.text[l], row.final[l], text, fin)
			}
		}
		for code, row := range rows {
			if !seen[code] && (row.text[l] != "?" || row.final[l] != "?") {
				t.Errorf("%s: fixture has an official %s column for code %d, the excerpt has no such row", reasonsFixture, l, code)
			}
		}
	}
}

func TestReasonFinalityOfDocumentedCodes(t *testing.T) {
	want := map[int]Finality{0: Final, 454: NotFinal, 459: NotFinal}
	for c := 455; c <= 465; c++ {
		if c != 459 {
			want[c] = Final
		}
	}
	for code, w := range want {
		if got := ReasonFinality(code); got != w {
			t.Errorf("ReasonFinality(%d) = %v, want %v", code, got, w)
		}
	}
}

// The codes ePay's page calls "not final, request the payment status", as another public
// integration copies them (github boomboom0202/edx-platform,
// ektu-halyk-payments/halyk_payments/client.py, RETRYABLE_REASON_CODES): a failure
// with one of them may still become a payment, and is never taken for a final decline
// (-31, 690 and 3225 were missing: a status answer REJECT with 690 made the invoice
// failed, and the reconciler never asked again).
func TestTheNotFinalCodesOfThePageAreNotFinal(t *testing.T) {
	for _, code := range []int{-31, 100, 293, 454, 690, 1267, 1268, 1269, 1563, 1564, 2358, 2656, 3014, 3225, 3240} {
		if got := ReasonFinality(code); got != NotFinal {
			t.Errorf("ReasonFinality(%d) = %v, want not final", code, got)
		}
	}
}

// Every code of the table has a text in every language and a flag.
func TestReasonTableEntriesAreComplete(t *testing.T) {
	codes := ReasonCodes()
	if len(codes) == 0 {
		t.Fatal("ReasonCodes() is empty")
	}
	for _, code := range codes {
		r, ok := Reason(code)
		if !ok {
			t.Errorf("Reason(%d) ok = false for a code of ReasonCodes()", code)
		}
		for _, l := range reasonLangs {
			s := reasonIn(r, l)
			if strings.TrimSpace(s) == "" || s != strings.TrimSpace(s) || s == "-" ||
				strings.Contains(s, "…") || strings.Contains(s, "[excerpt") || strings.Contains(s, "  ") ||
				strings.Contains(s, "ePay reason code") {
				t.Errorf("Reason(%d).%s = %q, want a whole text", code, strings.ToUpper(l), s)
			}
		}
		if f := ReasonFinality(code); f != Final && f != NotFinal {
			t.Errorf("ReasonFinality(%d) = %v, want final or not final", code, f)
		}
	}
}

func TestReasonUnknownCodes(t *testing.T) {
	for _, code := range []int{-498, -1, 1, 474, 3298, 99999, 100000} {
		r, ok := Reason(code)
		if ok {
			t.Errorf("Reason(%d) ok = true, want false", code)
		}
		if f := ReasonFinality(code); f != FinalityUnknown {
			t.Errorf("ReasonFinality(%d) = %v, want unknown", code, f)
		}
		n := strconv.Itoa(code)
		for _, l := range reasonLangs {
			if s := reasonIn(r, l); !strings.Contains(s, n) || s == n {
				t.Errorf("Reason(%d).%s = %q, want a text naming the code", code, strings.ToUpper(l), s)
			}
		}
	}
	if r, _ := Reason(-498); r.EN != "ePay reason code -498" {
		t.Errorf("Reason(-498).EN = %q, want %q (callers and docs show it)", r.EN, "ePay reason code -498")
	}
}

func TestFinalityString(t *testing.T) {
	for f, want := range map[Finality]string{FinalityUnknown: "unknown", Final: "final", NotFinal: "not final"} {
		if got := f.String(); got != want {
			t.Errorf("Finality(%d).String() = %q, want %q", f, got, want)
		}
	}
}

// ReasonCodes is ascending, and the table is the fixture's codes: no more, no fewer.
func TestReasonCodesSortedAndComplete(t *testing.T) {
	codes := ReasonCodes()
	for i := 1; i < len(codes); i++ {
		if codes[i-1] >= codes[i] {
			t.Fatalf("ReasonCodes() not strictly ascending at %d: %d, %d", i, codes[i-1], codes[i])
		}
	}
	inFixture := map[int]bool{}
	for _, row := range readReasonFixture(t) {
		inFixture[row.code] = true
		if _, found := slices.BinarySearch(codes, row.code); !found {
			t.Errorf("code %d of %s is not in ReasonCodes()", row.code, reasonsFixture)
		}
		if _, ok := Reason(row.code); !ok {
			t.Errorf("Reason(%d) ok = false; %s has the code", row.code, reasonsFixture)
		}
	}
	for _, code := range codes {
		if !inFixture[code] {
			t.Errorf("code %d is in the table but not in %s", code, reasonsFixture)
		}
	}
	if len(codes) != len(reasons) {
		t.Errorf("ReasonCodes() has %d codes, the table %d", len(codes), len(reasons))
	}
	codes[0] = -1 // the caller's copy
	if ReasonCodes()[0] == -1 {
		t.Error("ReasonCodes() returns the table's own slice; want a copy")
	}
}
