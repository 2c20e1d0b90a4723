package initiator

import (
	"embed"
	"html/template"
	"io/fs"
	"net/http"

	"github.com/epayflow/epayflow/internal/epay"
)

//go:embed web
var webFS embed.FS

var pages = template.Must(template.ParseFS(webFS, "web/shop.html", "web/return.html"))

// staticFiles serves web/static (scripts and styles) under /static/.
func staticFiles() http.Handler {
	sub, _ := fs.Sub(webFS, "web/static")
	return http.StripPrefix("/static/", http.FileServerFS(sub))
}

// shopPage renders the demo shop. The key is the one INITIATOR_SHOP_KEY names: it
// reaches the browser through this page, so it must be a key for the demo only.
func shopPage(env, key string) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/" {
			http.NotFound(w, r)
			return
		}
		render(w, "shop.html", map[string]string{"ShopKey": key, "Env": env})
	})
}

// returnPage renders the page ePay sends the customer back to.
func returnPage(title string) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		id := r.URL.Query().Get("invoiceId")
		if epay.ValidateInvoiceID(id) != nil {
			id = ""
		}
		render(w, "return.html", map[string]string{"Title": title, "InvoiceID": id})
	})
}

func render(w http.ResponseWriter, name string, data any) {
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.Header().Set("Referrer-Policy", "same-origin")
	if err := pages.ExecuteTemplate(w, name, data); err != nil {
		http.Error(w, "page failed", http.StatusInternalServerError)
	}
}
