package worker

import "maps"

// FlagEnvNames returns, for each flag ParseFlags declares, its environment variable (flag
// name -> variable; each may also be given as the variable + "_FILE"): a copy, for
// checks of deployment files against the code (deploy/compose).
func FlagEnvNames() map[string]string { return maps.Clone(envNames) }

// StreamsFlagEnvNames returns, for each flag of `worker streams`, its environment variable
// (a copy): the worker's own for the same settings, which a deployment must give both
// the same values.
func StreamsFlagEnvNames() map[string]string { return maps.Clone(streamsEnvNames) }
