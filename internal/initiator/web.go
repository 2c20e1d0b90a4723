package initiator

import (
	"embed"
	"errors"
	"html/template"
	"io/fs"
	"net/http"
	"net/url"
	"strings"

	"github.com/epayflow/epayflow/internal/epay"
)

//go:embed web
var webFS embed.FS

var pages = template.Must(template.ParseFS(webFS, "web/shop.html", "web/return.html"))

// Content-Security-Policy of the answers. Every answer gets baseCSP (nothing may load,
// no one may frame it); a page replaces it with its own: its scripts and styles from
// this origin only (no inline script, no eval), no plugins, no <base>, not framed.
const (
	baseCSP   = "default-src 'none'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'"
	returnCSP = "default-src 'self'; object-src 'none'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
)

// shopCSP is the shop page's policy: as the return page's, plus ePay's payment-api.js
// (script-src) and the form it posts the payment object to (form-action), both on the
// origin of EPAY_PAYFORM_JS_URL.
func shopCSP(payformJSURL string) string {
	origin := originOf(payformJSURL)
	return "default-src 'self'; script-src 'self' " + origin + "; form-action 'self' " + origin +
		"; object-src 'none'; base-uri 'none'; frame-ancestors 'none'"
}

func originOf(raw string) string {
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" {
		return "'none'"
	}
	return u.Scheme + "://" + u.Host
}

// secure sets the headers every answer carries: a CSP that loads nothing and forbids
// framing (pages set their own), no MIME sniffing, no Referer (the return page's URL
// holds its token), and, when the initiator's public URL (INITIATOR_PUBLIC_URL) is
// https, HSTS: a browser that has seen it never sends the shop's or the return page's
// tokens over plain http again.
func secure(next http.Handler, publicURL string) http.Handler {
	hsts := strings.HasPrefix(strings.ToLower(publicURL), "https://")
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("Content-Security-Policy", baseCSP)
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("Referrer-Policy", "no-referrer")
		h.Set("X-Frame-Options", "DENY")
		if hsts {
			h.Set("Strict-Transport-Security", "max-age=31536000")
		}
		next.ServeHTTP(w, r)
	})
}

// staticFiles serves the files of web/static (scripts and styles) under /static/, and
// 404 for /static/ and any directory: there is no listing.
func staticFiles() http.Handler {
	sub, _ := fs.Sub(webFS, "web/static")
	return http.StripPrefix("/static/", http.FileServerFS(filesOnly{sub}))
}

// filesOnly is an fs.FS whose directories do not exist.
type filesOnly struct{ fs.FS }

func (f filesOnly) Open(name string) (fs.File, error) {
	file, err := f.FS.Open(name)
	if err != nil {
		return nil, err
	}
	if st, err := file.Stat(); err != nil || st.IsDir() {
		file.Close()
		return nil, &fs.PathError{Op: "open", Path: name, Err: errors.Join(fs.ErrNotExist, err)}
	}
	return file, nil
}

// shopProduct is one line of the demo shop's catalogue: the shop route accepts these
// descriptions only.
type shopProduct struct{ Name, Amount string }

var shopProducts = []shopProduct{
	{"Coffee beans 1 kg", "100"},
	{"Tea set", "1250.50"},
	{"Gift card", "5000"},
}

// shopPage renders the demo shop. It holds no key: the page creates payments through
// POST /shop/payments (shop.go).
func shopPage(env, payformJSURL string) http.Handler {
	csp := shopCSP(payformJSURL)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/" {
			http.NotFound(w, r)
			return
		}
		render(w, http.StatusOK, csp, "shop.html", map[string]any{"Env": env, "Products": shopProducts})
	})
}

// returnPage renders the page ePay sends the customer back to: only with the invoice's
// token, which the default backLinks carry; without it (or with a wrong one) 404, as for
// an invoice that does not exist.
func returnPage(svc *Service, title string) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		q := r.URL.Query()
		id, tok := q.Get("invoiceId"), q.Get("token")
		if epay.ValidateInvoiceID(id) != nil || !svc.validReturnToken(id, tok) {
			render(w, http.StatusNotFound, returnCSP, "return.html", map[string]string{"Title": "Payment not found"})
			return
		}
		render(w, http.StatusOK, returnCSP, "return.html", map[string]string{"Title": title, "InvoiceID": id, "Token": tok})
	})
}

func render(w http.ResponseWriter, status int, csp, name string, data any) {
	var b strings.Builder
	if err := pages.ExecuteTemplate(&b, name, data); err != nil {
		http.Error(w, "page failed", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("Content-Security-Policy", csp)
	w.WriteHeader(status)
	w.Write([]byte(b.String()))
}
