// Package epayapi is the HTTP client of ePay's OAuth and status APIs, as the merchant
// calls them: a fresh token per operation (scope "payment" for a card payment,
// "transfer" for P2P, the broad service scope for the status API), and the payment and
// P2P status checks.
//
// Every request has a timeout per attempt and is retried a bounded number of times, with
// exponential backoff and jitter, on network errors and 5xx answers only; a 4xx is an
// answer and is never retried. Failures are typed: *APIError for ePay's 4xx bodies, and
// the sentinels ErrUnauthorized, ErrEPayUnavailable, ErrTimeout and ErrBadResponse for
// errors.Is. The client_secret and every token stay out of errors, logs and String
// forms: a Token prints its scope and lifetime, never its access_token.
//
// Hosts are configuration: Preset returns the sandbox, test and prod endpoints.
package epayapi
