// Package arch holds the test of the import rules in docs/ARCHITECTURE.md: the table of
// packages there is what the test enforces.
package arch
