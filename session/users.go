package session

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"sort"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/redisware/redisware/middleware"
)

// Info describes one stored session of a user.
type Info struct {
	// ID is the session's ID, as Session.ID returns it. It is a bearer
	// secret: compare it, do not show it.
	ID string
	// Created is when the session was created or last renewed by Login.
	Created time.Time
	// LastSeen is when its idle expiry was last refreshed.
	LastSeen time.Time
}

// Sessions returns the live sessions of userID, most recently seen first.
// IDs of sessions that expired or were destroyed are pruned from the
// user's index on the way. It costs two round trips, three when it prunes.
func (m *Manager) Sessions(ctx context.Context, userID string) ([]Info, error) {
	uk := m.userKey(userID)
	ids, err := call(ctx, m, "list", smembers, keysArgs{m: m, key: uk})
	if err != nil {
		return nil, fmt.Errorf("session: sessions: %w", err)
	}
	if len(ids) == 0 {
		return nil, nil
	}
	cmds, err := call(ctx, m, "list", func(ctx context.Context, a keysArgs) ([]*redis.SliceCmd, error) {
		cmds := make([]*redis.SliceCmd, len(a.ids))
		_, err := a.m.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
			for i, id := range a.ids {
				cmds[i] = p.HMGet(ctx, a.m.key(id), fieldCreated, fieldSeen, fieldUser)
			}
			return nil
		})
		return cmds, err
	}, keysArgs{m: m, ids: ids})
	if err != nil {
		return nil, fmt.Errorf("session: sessions: %w", err)
	}
	now := m.o.Now()
	var out []Info
	var stale []any
	for i, id := range ids {
		v := cmds[i].Val()
		created, okC := fromMS(str(v, 0))
		seen, okS := fromMS(str(v, 1))
		live := okC && okS && str(v, 2) == userID &&
			now.Before(created.Add(m.o.Lifetime)) && now.Before(seen.Add(m.o.IdleTimeout))
		if !live {
			stale = append(stale, id)
			continue
		}
		out = append(out, Info{ID: id, Created: created, LastSeen: seen})
	}
	if len(stale) > 0 {
		err := do(ctx, m, "prune", func(ctx context.Context, a keysArgs) error {
			return a.m.rdb.SRem(ctx, a.key, a.members...).Err()
		}, keysArgs{m: m, key: uk, members: stale})
		if err != nil {
			m.o.Logger.WarnContext(ctx, "session: pruning a user's expired sessions", "err", err)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].LastSeen.After(out[j].LastSeen) })
	return out, nil
}

// keysArgs are what a Redis call about a user's index needs: its key and
// the IDs or members it concerns.
type keysArgs struct {
	m       *Manager
	key     string
	ids     []string
	members []any
}

// smembers reads the set at a.key.
func smembers(ctx context.Context, a keysArgs) ([]string, error) {
	return a.m.rdb.SMembers(ctx, a.key).Result()
}

func str(v []any, i int) string {
	if i < len(v) {
		s, _ := v[i].(string)
		return s
	}
	return ""
}

// DestroyUser deletes every session of userID ("log out everywhere") and
// returns how many existed. It reads the user's index, never the keyspace:
// two round trips. A Login racing with it keeps its new session, which is
// what a login after "log out everywhere" should do.
func (m *Manager) DestroyUser(ctx context.Context, userID string) (int, error) {
	uk := m.userKey(userID)
	ids, err := call(ctx, m, "destroy-user", smembers, keysArgs{m: m, key: uk})
	if err != nil {
		return 0, fmt.Errorf("session: destroy user: %w", err)
	}
	if len(ids) == 0 {
		return 0, nil
	}
	dels, err := call(ctx, m, "destroy-user", func(ctx context.Context, a keysArgs) ([]*redis.IntCmd, error) {
		// One DEL per key: on Redis Cluster the keys live in other slots.
		// SREM of what was read, not DEL of the set, so a concurrent
		// Login's new ID stays indexed.
		dels := make([]*redis.IntCmd, len(a.ids))
		members := make([]any, len(a.ids))
		_, err := a.m.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
			for i, id := range a.ids {
				dels[i] = p.Del(ctx, a.m.key(id))
				members[i] = id
			}
			p.SRem(ctx, a.key, members...)
			return nil
		})
		return dels, err
	}, keysArgs{m: m, key: uk, ids: ids})
	if err != nil {
		return 0, fmt.Errorf("session: destroy user: %w", err)
	}
	n := 0
	for _, d := range dels {
		n += int(d.Val())
	}
	return n, nil
}

// ErrNotLoggedIn is wrapped by UserKey's error for anonymous requests.
var ErrNotLoggedIn = errors.New("session: not logged in")

// UserKey returns a middleware.KeyFunc that keys a request by the user its
// session (from m's Middleware) is logged in as, so a rate limit can apply
// per user. Anonymous requests get an error wrapping middleware.ErrNoKey
// and ErrNotLoggedIn.
func UserKey(m *Manager) middleware.KeyFunc {
	return func(r *http.Request) (string, error) {
		s := FromContext(r.Context())
		if s == nil || s.m != m {
			return "", fmt.Errorf("%w: no session from this manager (is the request under its Middleware?)", middleware.ErrNoKey)
		}
		uid := s.UserID()
		if uid == "" {
			return "", fmt.Errorf("%w: %w", middleware.ErrNoKey, ErrNotLoggedIn)
		}
		return uid, nil
	}
}
