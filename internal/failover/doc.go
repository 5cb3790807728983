// Package failover holds tests only: session, ratelimit, cachehandler and
// aside under load while Redis fails over to a replica, on a Redis Cluster
// (a master killed, its replica promoted) and under Sentinel (SENTINEL
// FAILOVER, then the old primary killed). Each test starts redis-server
// processes of its own on free loopback ports (internal/redistest), so it
// disturbs no other test; without redis-server it is skipped, unless
// REDISTEST_REQUIRE_SERVER is set (as .ci/run does), which fails it.
//
// The tests check that every request is answered by its package's failure
// policy during the election, that every package works again after it
// without a restart, and that data replicated before the failover
// survives it; they measure and print what replication, which is
// asynchronous, lost: increments of a session counter that were answered
// 200 but are not in Redis afterwards, and rate-limit units that were
// spent but are no longer counted (requests the limiter will allow again).
package failover
