// Package faulttest holds the fault suite: tests that start a redis-server
// of their own and, while session, ratelimit, cachehandler, aside and
// middleware.Health serve concurrent requests through one shared client,
// pause it (SIGSTOP), kill it (SIGKILL) and restart it on the same port.
// They check that every response comes within its timeout and follows the
// package's failure policy, that errors stop within 100 ms of Redis
// accepting connections again, that sessions survive a pause, and that an
// outage is a handful of log lines, not one per request; and they print
// what they injected and what they saw, per phase.
//
// The suite takes about half a minute, so `go test ./...` skips it; `make
// faults` runs it (FAULTS=1), and fails when redis-server is not on PATH.
// It has no code of its own.
package faulttest
