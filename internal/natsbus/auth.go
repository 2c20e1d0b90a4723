package natsbus

import (
	"errors"
	"flag"
	"fmt"
	"net/url"
	"os"
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

// RedactURLs returns the comma-separated URLs with any password in them replaced by
// "xxxxx", for messages.
func RedactURLs(urls string) string {
	parts := strings.Split(urls, ",")
	for i, p := range parts {
		if u, err := url.Parse(strings.TrimSpace(p)); err == nil && u.User != nil {
			parts[i] = u.Redacted()
		}
	}
	return strings.Join(parts, ",")
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
