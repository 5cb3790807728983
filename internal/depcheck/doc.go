// Package depcheck holds the test that keeps the library's dependencies to
// the ones the project allows. It has no code of its own.
package depcheck
