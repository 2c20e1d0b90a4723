package epay

// ePay's environments, the values of EPAY_ENV: the local sandbox, ePay's test
// environment, and production (where every service refuses ePay's published test
// credentials and keys found in this repository).
const (
	EnvSandbox = "sandbox"
	EnvTest    = "test"
	EnvProd    = "prod"
)
