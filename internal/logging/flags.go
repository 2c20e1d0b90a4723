package logging

import "flag"

// FlagEnvNames are the variables of the flags BindFlags declares, the same in every
// command.
var FlagEnvNames = map[string]string{"log-format": "LOG_FORMAT", "log-level": "LOG_LEVEL"}

// BindFlags declares -log-format and -log-level on fs, stored in *format and *level and
// defaulting to their values; New checks them.
func BindFlags(fs *flag.FlagSet, format, level *string) {
	fs.StringVar(format, "log-format", *format, "log format: json or text")
	fs.StringVar(level, "log-level", *level, "log level: debug, info, warn or error")
}
