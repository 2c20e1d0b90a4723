// Package epay is the domain of Halyk Bank's ePay gateway as the merchant sees it:
// the postLink / failurePostLink callback and its tolerant decoder, the invoiceId rules,
// the reason-code table, and the secret_hash that binds a callback to the invoice it
// claims to be about.
//
// It imports only the standard library. Everything that talks to a network lives in
// adapter packages that import this one.
package epay
