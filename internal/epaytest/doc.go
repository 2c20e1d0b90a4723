// Package epaytest makes and sends callbacks shaped as Halyk ePay's: the success and
// failure bodies of ePay's samples (Transaction.Body), signed with a secret_hash keyring
// (SignedCallback), sent for one invoice with duplicates, out of order or with a wrong
// secret_hash (Trigger, and the trigger command's flags), and delivered with retries as
// ePay retries (Deliverer).
//
// The ePay sandbox (internal/sandbox) renders its own callbacks with it; the chaos test,
// the benchmarks' load generator, the local stack's tests and `devstack trigger` use it
// to play ePay without the sandbox. No service imports it (internal/arch's test enforces
// it). See docs/SANDBOX.md.
package epaytest
