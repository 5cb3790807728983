package scenario

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"time"

	"github.com/go-redis/cache/v9"
)

// Item is the value of the aside scenarios: about 100 bytes of JSON.
type Item struct {
	ID    int      `json:"id"`
	Name  string   `json:"name"`
	Price int      `json:"price_cents"`
	Tags  []string `json:"tags"`
}

// asideKey is the one key the aside scenarios read (after the prefix).
const asideKey = "item:42"

// Aside TTLs, the same for every implementation: a value lives an hour in
// Redis and at most asideLocalTTL in a process' local tier (ours' default).
const (
	asideTTL      = time.Hour
	asideLocalTTL = 5 * time.Second
	asideLocalMax = 1000
)

// asideGetter returns the value of asideKey, fetching it on a miss.
type asideGetter func(ctx context.Context, fetch func(context.Context) (Item, error)) (Item, error)

func buildAside(env Env, s Scenario, impl string, b *Built) error {
	var get asideGetter
	switch impl {
	case ImplOurs, ImplOursDirect:
		g, closeFn, err := oursAside(env, s.Local, impl == ImplOursDirect)
		if err != nil {
			return err
		}
		b.onClose(closeFn)
		get = g
	case ImplGoCacheOnce:
		get = goCacheAside(env, s.Local)
	default:
		return fmt.Errorf("no cache-aside %q", impl)
	}
	fetch := func(context.Context) (Item, error) {
		b.Origin.Add(1)
		return Item{ID: 42, Name: "a benchmark item of modest size", Price: 1999, Tags: []string{"bench", "aside", "json"}}, nil
	}
	b.Handler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		it, err := get(r.Context(), fetch)
		if err != nil {
			http.Error(w, "aside: "+err.Error(), http.StatusInternalServerError)
			return
		}
		body, err := json.Marshal(it)
		if err != nil {
			http.Error(w, "aside: "+err.Error(), http.StatusInternalServerError)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write(body)
	})
	return nil
}

// goCacheAside is go-redis/cache's Once, its cache-aside call, with its
// TinyLFU local cache for the local tier (no cross-instance invalidation).
func goCacheAside(env Env, local bool) asideGetter {
	o := &cache.Options{Redis: env.RDB}
	if local {
		o.LocalCache = cache.NewTinyLFU(asideLocalMax, asideLocalTTL)
	}
	c := cache.New(o)
	key := env.Prefix + "gocache:" + asideKey
	return func(ctx context.Context, fetch func(context.Context) (Item, error)) (Item, error) {
		var it Item
		err := c.Once(&cache.Item{
			Ctx: ctx, Key: key, Value: &it, TTL: asideTTL,
			Do: func(i *cache.Item) (any, error) { return fetch(i.Context()) },
		})
		return it, err
	}
}
