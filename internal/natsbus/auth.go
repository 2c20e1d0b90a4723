package natsbus

import (
	"errors"
	"flag"
	"fmt"
	"net/url"
	"os"
	"strconv"
	"strings"

	"github.com/nats-io/nats.go"
)

// Auth is who a client is on NATS and how it checks the server: the same three settings
// in every service (AuthFlagEnvNames).
type Auth struct {
	// User and Password (NATS_USER, NATS_PASSWORD; the password preferably from a file,
	// NATS_PASSWORD_FILE). Empty User: connect without credentials, which a server with
	// authorization on refuses.
	User     string
	Password string
	// CA (NATS_CA) is a PEM file of the certificate authorities that signed the NATS
	// servers' certificates. Set: the connection must be TLS, the server's certificate
	// is verified against it. Empty: plain TCP (a server that requires TLS refuses it).
	CA string
}

// AuthFlagEnvNames are the variables of the flags Auth.BindFlags declares, the same in
// every service and command that connects to NATS.
var AuthFlagEnvNames = map[string]string{
	"nats-user": "NATS_USER", "nats-password": "NATS_PASSWORD", "nats-ca": "NATS_CA",
}

// BindFlags declares -nats-user, -nats-password and -nats-ca on fs, defaulting to a's values.
func (a *Auth) BindFlags(fs *flag.FlagSet) {
	fs.StringVar(&a.User, "nats-user", a.User, "NATS user this process connects as (its role: ingest, initiator, worker or subscriber)")
	fs.StringVar(&a.Password, "nats-password", a.Password, "password of -nats-user (prefer NATS_PASSWORD_FILE: flags and variables show in ps and crash dumps)")
	fs.StringVar(&a.CA, "nats-ca", a.CA, "PEM file of the CAs of the NATS servers' certificates: connect with TLS and verify them")
}

// ErrAuthConfig is wrapped by Validate's errors.
var ErrAuthConfig = errors.New("nats credentials")

// Validate reports a password without a user, a user without a password, or an
// unreadable CA file. The error names the variables, never the password.
func (a Auth) Validate() error {
	switch {
	case a.User == "" && a.Password != "":
		return fmt.Errorf("%w: -nats-password (NATS_PASSWORD) is set but -nats-user (NATS_USER) is not", ErrAuthConfig)
	case a.User != "" && a.Password == "":
		return fmt.Errorf("%w: -nats-user (NATS_USER) %q has no password: set NATS_PASSWORD_FILE (or NATS_PASSWORD)", ErrAuthConfig, a.User)
	case strings.ContainsAny(a.User, " \t\r\n"):
		return fmt.Errorf("%w: -nats-user (NATS_USER) %q contains white space", ErrAuthConfig, a.User)
	}
	if a.CA != "" {
		if _, err := os.Stat(a.CA); err != nil {
			return fmt.Errorf("%w: -nats-ca (NATS_CA): %v", ErrAuthConfig, err)
		}
	}
	return nil
}

// String describes a without its password, for logs: "user ingest, TLS (ca.pem)".
func (a Auth) String() string {
	s := "anonymous"
	if a.User != "" {
		s = "user " + a.User
	}
	if a.CA != "" {
		s += ", TLS (" + a.CA + ")"
	}
	return s
}

// options are the connect options of a for role.
func (a Auth) options(role Role) []nats.Option {
	var opts []nats.Option
	if role != "" {
		opts = append(opts, nats.CustomInboxPrefix(role.InboxPrefix()))
	}
	if a.User != "" {
		opts = append(opts, nats.UserInfo(a.User, a.Password))
	}
	if a.CA != "" {
		opts = append(opts, nats.RootCAs(a.CA))
	}
	return opts
}

// RedactURLs returns the comma-separated URLs without their credentials, for messages:
// a password becomes "xxxxx", and so does a user without a password (a token); a URL
// that does not parse loses everything before its last '@'.
func RedactURLs(urls string) string {
	parts := strings.Split(urls, ",")
	for i, p := range parts {
		parts[i] = redactURL(strings.TrimSpace(p))
	}
	return strings.Join(parts, ",")
}

func redactURL(p string) string {
	u, err := url.Parse(p)
	switch {
	case err == nil && u.User == nil:
		return p
	case err == nil:
		if _, ok := u.User.Password(); ok {
			return u.Redacted()
		}
		u.User = url.User("xxxxx")
		return u.String()
	}
	at := strings.LastIndex(p, "@")
	if at < 0 {
		return p
	}
	scheme := ""
	if i := strings.Index(p, "://"); i >= 0 && i < at {
		scheme = p[:i+3]
	}
	return scheme + "xxxxx@" + p[at+1:]
}

// CheckURLs reports a NATS_URL the client cannot use: each of its comma-separated URLs
// must be host[:port] or scheme://host[:port] with scheme nats, tls, ws or wss, and a
// port from 1 to 65535. The error names the URL without its credentials.
func CheckURLs(urls string) error {
	if strings.TrimSpace(urls) == "" {
		return errors.New("-nats-url (NATS_URL) is empty")
	}
	for _, p := range strings.Split(urls, ",") {
		p = strings.TrimSpace(p)
		bad := func(why string) error {
			return fmt.Errorf("-nats-url (NATS_URL) %q: %s", redactURL(p), why)
		}
		full := p
		if !strings.Contains(p, "://") {
			full = "nats://" + p
		}
		u, err := url.Parse(full)
		if err != nil {
			return bad("not a URL (want nats://host:4222, comma-separated for a cluster)")
		}
		switch u.Scheme {
		case "nats", "tls", "ws", "wss":
		default:
			return bad(fmt.Sprintf("scheme %q: want nats://, tls://, ws:// or wss://", u.Scheme))
		}
		if u.Hostname() == "" {
			return bad("no host (want nats://host:4222)")
		}
		if port := u.Port(); port != "" {
			if n, err := strconv.Atoi(port); err != nil || n < 1 || n > 65535 {
				return bad(fmt.Sprintf("port %q: want 1 to 65535", port))
			}
		}
		if u.Path != "" && u.Path != "/" {
			return bad("a path: want nats://host:4222")
		}
	}
	return nil
}

// IsAuthError reports whether err is NATS refusing the credentials (a wrong or
// missing user or password, an expired or revoked one).
func IsAuthError(err error) bool {
	return errors.Is(err, nats.ErrAuthorization) || errors.Is(err, nats.ErrAuthExpired) ||
		errors.Is(err, nats.ErrAuthRevoked) || errors.Is(err, nats.ErrAccountAuthExpired) ||
		err != nil && strings.Contains(strings.ToLower(err.Error()), "authorization violation")
}

// IsPermissionError reports whether err is NATS refusing a publish or a subscription
// the connection's user is not allowed.
func IsPermissionError(err error) bool {
	return errors.Is(err, nats.ErrPermissionViolation) ||
		err != nil && strings.Contains(strings.ToLower(err.Error()), "permissions violation")
}

// IdentityEnv is getenv with <prefix>NATS_USER, <prefix>NATS_PASSWORD and
// <prefix>NATS_PASSWORD_FILE in place of NATS_USER, NATS_PASSWORD and NATS_PASSWORD_FILE
// when <prefix>NATS_USER is set: a command run in a service's environment (`worker dlq`,
// `worker streams`) then connects as its own NATS user, not as the service's.
func IdentityEnv(getenv func(string) string, prefix string) func(string) string {
	if getenv(prefix+"NATS_USER") == "" {
		return getenv
	}
	return func(k string) string {
		switch k {
		case "NATS_USER", "NATS_PASSWORD", "NATS_PASSWORD_FILE":
			return getenv(prefix + k)
		}
		return getenv(k)
	}
}
