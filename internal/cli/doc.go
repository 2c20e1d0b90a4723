// Package cli is what every command's main does besides its own work: run with a
// context that SIGINT and SIGTERM cancel, and turn the error it ends with into an exit
// status and, for a failure, one line on stderr.
//
// A command keeps its own run(ctx, args, getenv, ...) for tests to call; its main is
//
//	func main() { cli.Main(func(ctx context.Context) int { return run(ctx, os.Args[1:], ...) }) }
package cli
