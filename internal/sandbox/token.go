package sandbox

import (
	"crypto/subtle"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"

	"github.com/epayflow/epayflow/internal/epay"
)

// ServiceScope is the broad scope of the service token (status API, charge, cancel,
// refund); some docs use it for card payments too.
const ServiceScope = "webapi usermanagement email_send verification statement statistics payment"

// Token scopes as the sandbox classifies them.
const (
	scopePayment  = "payment"
	scopeTransfer = "transfer"
	scopeService  = "service"
)

// oauthError is the body of a refused token request, in the OAuth 2.0 (RFC 6749 §5.2)
// shape: HTTP 400 for a malformed request, 401 for wrong client credentials.
type oauthError struct {
	status      int
	Code        string `json:"error"`
	Description string `json:"error_description"`
}

func (e *oauthError) Error() string { return e.Code + ": " + e.Description }

func invalidRequest(format string, a ...any) *oauthError {
	return &oauthError{http.StatusBadRequest, "invalid_request", fmt.Sprintf(format, a...)}
}

// requiredFields lists what each scope needs besides grant_type, scope, client_id and
// client_secret, in the order the error names the first missing one.
var requiredFields = map[string][]string{
	scopePayment:  {"terminal", "invoiceID", "secret_hash", "amount", "currency", "postLink", "failurePostLink"},
	scopeTransfer: {"terminal", "secret_hash"},
	scopeService:  {"terminal"},
}

func (s *Sandbox) handleToken(w http.ResponseWriter, r *http.Request) {
	form, err := readForm(w, r)
	if err != nil {
		s.refuseToken(w, invalidRequest("%v", err))
		return
	}
	t, oerr := s.issue(form)
	if oerr != nil {
		s.refuseToken(w, oerr)
		return
	}
	s.store.putToken(t)
	s.metrics.tokens.WithLabelValues(scopeKind(t)).Inc()
	var expires any = int(s.cfg.ExpiresIn.Seconds())
	if s.cfg.ExpiresInString {
		expires = strconv.Itoa(int(s.cfg.ExpiresIn.Seconds()))
	}
	writeJSON(w, http.StatusOK, struct {
		AccessToken  string `json:"access_token"`
		ExpiresIn    any    `json:"expires_in"`
		RefreshToken string `json:"refresh_token"`
		Scope        string `json:"scope"`
		TokenType    string `json:"token_type"`
	}{t.access, expires, "", t.scope, "Bearer"})
}

func (s *Sandbox) refuseToken(w http.ResponseWriter, e *oauthError) {
	s.metrics.tokenErrors.WithLabelValues(e.Code).Inc()
	s.log.Info("token refused", "error", e.Code, "why", e.Description)
	writeJSON(w, e.status, e)
}

// readForm parses a urlencoded or multipart body of at most 64 KiB.
func readForm(w http.ResponseWriter, r *http.Request) (url.Values, error) {
	r.Body = http.MaxBytesReader(w, r.Body, 64<<10)
	if strings.HasPrefix(r.Header.Get("Content-Type"), "multipart/") {
		if err := r.ParseMultipartForm(64 << 10); err != nil {
			return nil, fmt.Errorf("unreadable form: %v", err)
		}
		return r.PostForm, nil
	}
	if err := r.ParseForm(); err != nil {
		return nil, fmt.Errorf("unreadable form: %v", err)
	}
	return r.PostForm, nil
}

// issue checks a token request and builds the token it earns.
func (s *Sandbox) issue(f url.Values) (*token, *oauthError) {
	for _, k := range []string{"grant_type", "scope", "client_id", "client_secret"} {
		if strings.TrimSpace(f.Get(k)) == "" {
			return nil, invalidRequest("missing field: %s", k)
		}
	}
	if f.Get("grant_type") != "client_credentials" {
		return nil, &oauthError{http.StatusBadRequest, "unsupported_grant_type", "grant_type must be client_credentials"}
	}
	idOK := subtle.ConstantTimeCompare([]byte(f.Get("client_id")), []byte(s.cfg.ClientID)) == 1
	secretOK := subtle.ConstantTimeCompare([]byte(f.Get("client_secret")), []byte(s.cfg.ClientSecret)) == 1
	if !idOK || !secretOK {
		return nil, &oauthError{http.StatusUnauthorized, "invalid_client", "client authentication failed"}
	}
	kind, ok := classifyScope(f.Get("scope"))
	if !ok {
		return nil, &oauthError{http.StatusBadRequest, "invalid_scope", "scope must be payment, transfer or the service scope"}
	}
	for _, k := range requiredFields[kind] {
		if k == "terminal" && kind == scopeService && s.cfg.ServiceTerminalOptional {
			continue
		}
		if strings.TrimSpace(f.Get(k)) == "" {
			return nil, invalidRequest("missing field: %s", k)
		}
	}
	terminal := strings.TrimSpace(f.Get("terminal"))
	if terminal != "" && !slices.Contains(s.cfg.Terminals, terminal) {
		return nil, invalidRequest("terminal %q is not a terminal of client %q", terminal, s.cfg.ClientID)
	}
	t := &token{
		access:   newAccessToken(),
		scope:    f.Get("scope"),
		service:  kind == scopeService,
		terminal: terminal,
		expires:  s.cfg.Now().Add(s.cfg.ExpiresIn),
	}
	terms, oerr := readTerms(f, terminal)
	if oerr != nil {
		return nil, oerr
	}
	t.invoice = terms
	if kind == scopeTransfer && terms == nil {
		// A P2P token carries only the secret_hash; the invoice comes with the payment object.
		t.invoice = &invoiceTerms{terminal: terminal, secretHash: f.Get("secret_hash")}
	}
	return t, nil
}

// readTerms reads the invoice fields of a token request; nil when there is no invoiceID.
func readTerms(f url.Values, terminal string) (*invoiceTerms, *oauthError) {
	id := strings.TrimSpace(f.Get("invoiceID"))
	if id == "" {
		return nil, nil
	}
	if err := epay.ValidateInvoiceID(id); err != nil {
		return nil, invalidRequest("invoiceID: %v", err)
	}
	t := &invoiceTerms{invoiceID: id, terminal: terminal, secretHash: f.Get("secret_hash")}
	if a := strings.TrimSpace(f.Get("amount")); a != "" {
		amt, err := epay.ParseAmount(a)
		if err != nil || amt <= 0 {
			return nil, invalidRequest("amount: %q is not a positive amount", truncate(a))
		}
		t.amount = amt
	}
	if c := strings.TrimSpace(f.Get("currency")); c != "" {
		cur, err := epay.NormalizeCurrency(c)
		if err != nil {
			return nil, invalidRequest("currency: %v", err)
		}
		t.currency = cur
	}
	for name, dst := range map[string]*string{"postLink": &t.postLink, "failurePostLink": &t.failurePostLink} {
		v := strings.TrimSpace(f.Get(name))
		if v == "" {
			continue
		}
		if !isHTTPURL(v) {
			return nil, invalidRequest("%s: %q is not an http(s) URL", name, truncate(v))
		}
		*dst = v
	}
	return t, nil
}

// classifyScope reads the scope as payment, transfer or the service scope (its words
// in any order).
func classifyScope(scope string) (string, bool) {
	words := strings.Fields(scope)
	switch {
	case len(words) == 1 && words[0] == scopePayment:
		return scopePayment, true
	case len(words) == 1 && words[0] == scopeTransfer:
		return scopeTransfer, true
	}
	want := strings.Fields(ServiceScope)
	slices.Sort(words)
	slices.Sort(want)
	if slices.Equal(words, want) {
		return scopeService, true
	}
	return "", false
}

func scopeKind(t *token) string {
	switch {
	case t.service:
		return scopeService
	case t.scope == scopeTransfer:
		return scopeTransfer
	}
	return scopePayment
}

func isHTTPURL(s string) bool {
	u, err := url.Parse(s)
	return err == nil && (u.Scheme == "http" || u.Scheme == "https") && u.Host != ""
}

// truncate keeps echoed input short.
func truncate(s string) string {
	if len(s) > 40 {
		return s[:40] + "…"
	}
	return s
}
