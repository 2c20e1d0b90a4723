package ingest

import "maps"

// FlagEnvNames returns, for each flag ParseFlags declares, its environment variable (flag
// name -> variable; each may also be given as the variable + "_FILE"): a copy, for
// checks of deployment files against the code (deploy/compose).
func FlagEnvNames() map[string]string { return maps.Clone(envNames) }
