package script

import "github.com/redis/go-redis/v9"

// MarkCached makes r believe s is in its server's script cache, as after a
// Load or a call, so a test can have a server lack a script r would send as
// EVALSHA without flushing a shared server's cache.
func MarkCached(r *Runner, s *redis.Script) { r.markCached(s) }
