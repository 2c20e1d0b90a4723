package sandbox

import (
	"bytes"
	"embed"
	"fmt"
	"html/template"
	"net/http"
	"sort"

	"github.com/epayflow/epayflow/internal/epay"
)

//go:embed web
var webFS embed.FS

// pages are the sandbox's HTML templates.
type pages struct{ t *template.Template }

func parsePages() (*pages, error) {
	t, err := template.ParseFS(webFS, "web/*.html")
	if err != nil {
		return nil, fmt.Errorf("sandbox pages: %w", err)
	}
	return &pages{t: t}, nil
}

func (s *Sandbox) render(w http.ResponseWriter, status int, name string, data any) {
	var buf bytes.Buffer
	if err := s.pages.t.ExecuteTemplate(&buf, name, data); err != nil {
		s.log.Error("render page", "page", name, "error", err)
		http.Error(w, "page error", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	w.Write(buf.Bytes())
}

func (s *Sandbox) renderError(w http.ResponseWriter, status int, msg string) {
	s.render(w, status, "error.html", map[string]any{"Message": msg})
}

type testCardView struct{ Number, Expiry, CVC, Outcome string }

func (s *Sandbox) testCardViews() []testCardView {
	var out []testCardView
	for num, tc := range testCards {
		v := testCardView{Number: num, Expiry: tc.expiry, CVC: tc.cvc, Outcome: "pays"}
		switch {
		case tc.locked:
			v.Expiry, v.CVC = "any future", "any"
			v.Outcome = fmt.Sprintf("declines %d (locked)", s.cfg.LockedCode)
		case tc.notFinal:
			v.Expiry, v.CVC = "any future", "any"
			v.Outcome = fmt.Sprintf("not final %d: a failure callback, but paid (status 107 once, then 100)", reasonNotFinal)
		}
		out = append(out, v)
	}
	sort.Slice(out, func(i, j int) bool {
		return out[i].Outcome > out[j].Outcome || out[i].Outcome == out[j].Outcome && out[i].Number < out[j].Number
	})
	return out
}

func (s *Sandbox) renderForm(w http.ResponseWriter, status int, sess *session, formErr string) {
	title := "Payment"
	if sess.mode == "p2p" || sess.mode == "oct" {
		title = "Card transfer"
	}
	s.render(w, status, "payform.html", map[string]any{
		"Title": title, "Session": sess.id, "InvoiceID": sess.terms.invoiceID, "Amount": sess.terms.amount.String(),
		"Currency": sess.terms.currency, "Description": sess.obj.description, "Error": formErr,
		"TestCards": s.testCardViews(), "DeclineCode": s.cfg.DeclineCode,
	})
}

func (s *Sandbox) renderResult(w http.ResponseWriter, t txn) {
	reason, _ := epay.Reason(t.callbackCode())
	s.render(w, http.StatusOK, "result.html", map[string]any{
		"Approved": !t.reportedFailure(), "InvoiceID": t.invoiceID, "TransactionID": t.id,
		"ReasonCode": t.callbackCode(), "Reason": reason.EN, "Status": t.status,
	})
}

func (s *Sandbox) handleIndex(w http.ResponseWriter, _ *http.Request) {
	s.render(w, http.StatusOK, "index.html", map[string]any{"TestCards": s.testCardViews(), "DeclineCode": s.cfg.DeclineCode})
}

func (s *Sandbox) handlePaymentJS(w http.ResponseWriter, _ *http.Request) {
	b, err := webFS.ReadFile("web/payment-api.js")
	if err != nil {
		http.Error(w, "missing script", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/javascript; charset=utf-8")
	w.Header().Set("Cache-Control", "no-cache")
	w.Write(b)
}
