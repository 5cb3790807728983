package main

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/redisware/redisware/aside"
	"github.com/redisware/redisware/pubsub"
)

// eventsStream is the Redis stream of the live feed, in the key
// demo:stream:events.
const eventsStream = "events"

// eventsMessage is what the feed carries.
type eventsMessage struct {
	Text string    `json:"text"`
	At   time.Time `json:"at"`
}

// asideDemoItem is what the cache-aside demo "loads from the database".
type asideDemoItem struct {
	ID       int       `json:"id"`
	Name     string    `json:"name"`
	LoadedAt time.Time `json:"loaded_at"`
}

// mountEvents registers the live event feed (a Redis stream + Server-Sent
// Events) and the cache-aside demo:
//
//	GET  /events/          a page that shows the feed as it arrives
//	GET  /events/stream    the SSE stream of the feed: the last 20 events,
//	                       or what followed Last-Event-ID, then live ones
//	POST /events/publish   appends form field "text" to the feed
//	GET  /aside/item?id=N  an item behind GetOrSet with a slow (300 ms) fetch
//	POST /aside/item?id=N  deletes it from the cache (every instance)
//
// The stream ends when its client leaves or when the demo shuts down.
func (d *demo) mountEvents(mux *http.ServeMux) error {
	rdb := d.rdb
	// The feed keeps its last 100 events for a day: a page that reloads
	// shows the latest 20, and one whose connection drops resumes.
	feedOptions := pubsub.StreamOptions{Prefix: d.prefix + "demo:stream:", MaxLen: 100}
	feed, err := pubsub.NewStream[eventsMessage](rdb, eventsStream, feedOptions)
	if err != nil {
		return err
	}
	d.feed = feed
	stream, err := pubsub.NewStreamSSE(rdb, func(*http.Request) (string, error) {
		return eventsStream, nil
	}, pubsub.StreamSSEOptions{Stream: feedOptions, Backlog: 20, Retry: 2 * time.Second})
	if err != nil {
		return err
	}
	mux.Handle("GET /events/stream", endWith(d.streams, stream))
	mux.HandleFunc("GET /events/{$}", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		_, _ = w.Write([]byte(eventsPage))
	})
	mux.HandleFunc("POST /events/publish", func(w http.ResponseWriter, r *http.Request) {
		r.Body = http.MaxBytesReader(w, r.Body, 4<<10)
		text := strings.TrimSpace(r.FormValue("text"))
		if text == "" || len(text) > 280 {
			http.Error(w, "text: 1 to 280 bytes", http.StatusBadRequest)
			return
		}
		msg := eventsMessage{Text: text, At: time.Now().UTC()}
		if _, err := feed.Append(r.Context(), msg); err != nil {
			slog.Error("demo: publish", "err", err)
			http.Error(w, http.StatusText(http.StatusServiceUnavailable), http.StatusServiceUnavailable)
			return
		}
		if r.Header.Get("Accept") == "application/json" {
			w.WriteHeader(http.StatusNoContent)
			return
		}
		http.Redirect(w, r, "/events/", http.StatusSeeOther)
	})

	items, err := aside.New(rdb, aside.Options{
		Prefix:      d.prefix + "demo:aside:",
		NotFoundTTL: 30 * time.Second,
		LocalSize:   100,
		LocalTTL:    10 * time.Second,
		Observer:    d.tel.Aside(),
	})
	if err != nil {
		return err
	}
	d.closers = append(d.closers, items)
	itemID := func(w http.ResponseWriter, r *http.Request) (int, bool) {
		id, err := strconv.Atoi(r.URL.Query().Get("id"))
		if err != nil || id < 1 || id > 1_000_000 {
			http.Error(w, "id: an integer from 1 to 1000000", http.StatusBadRequest)
			return 0, false
		}
		return id, true
	}
	mux.HandleFunc("GET /aside/item", func(w http.ResponseWriter, r *http.Request) {
		id, ok := itemID(w, r)
		if !ok {
			return
		}
		start := time.Now()
		item, err := aside.GetOrSet(r.Context(), items, "item:"+strconv.Itoa(id), time.Minute,
			func(ctx context.Context) (asideDemoItem, error) {
				select { // a slow database
				case <-time.After(300 * time.Millisecond):
				case <-ctx.Done():
					return asideDemoItem{}, ctx.Err()
				}
				if id%13 == 0 { // unlucky items do not exist
					return asideDemoItem{}, aside.ErrNotFound
				}
				return asideDemoItem{ID: id, Name: "item " + strconv.Itoa(id), LoadedAt: time.Now().UTC()}, nil
			})
		switch {
		case errors.Is(err, aside.ErrNotFound):
			http.Error(w, "no such item", http.StatusNotFound)
			return
		case err != nil:
			slog.Error("demo: aside", "err", err)
			http.Error(w, http.StatusText(http.StatusInternalServerError), http.StatusInternalServerError)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(map[string]any{
			"item":    item,
			"took_ms": time.Since(start).Milliseconds(),
		})
	})
	mux.HandleFunc("POST /aside/item", func(w http.ResponseWriter, r *http.Request) {
		id, ok := itemID(w, r)
		if !ok {
			return
		}
		if err := items.Delete(r.Context(), "item:"+strconv.Itoa(id)); err != nil {
			slog.Error("demo: aside delete", "err", err)
			http.Error(w, http.StatusText(http.StatusServiceUnavailable), http.StatusServiceUnavailable)
			return
		}
		w.WriteHeader(http.StatusNoContent)
	})
	return nil
}

const eventsPage = `<!doctype html>
<meta charset="utf-8">
<title>redisware: live events</title>
<h1>Live events</h1>
<p>Messages are appended to the Redis stream <code>demo:stream:events</code> and arrive here as
Server-Sent Events. Open this page in two windows and publish from one. Reload it: the last 20
are still here. Stop the server for a moment: the page reconnects by itself and gets what it missed.</p>
<form id="f" method="post" action="/events/publish">
<input name="text" maxlength="280" required placeholder="say something" autofocus>
<button>Publish</button>
</form>
<p id="status">connecting…</p>
<ul id="feed"></ul>
<p>Cache-aside: <a href="/aside/item?id=42">/aside/item?id=42</a> takes 300 ms the first time,
then comes from Redis or the local tier; <code>POST /aside/item?id=42</code> evicts it everywhere.</p>
<script>
const feed = document.getElementById("feed"), status = document.getElementById("status");
function follow() {
  // EventSource reconnects by itself and sends Last-Event-ID: the server
  // replays what the page missed.
  const es = new EventSource("/events/stream");
  es.onopen = () => status.textContent = "live";
  es.onerror = () => status.textContent = "reconnecting…";
  es.addEventListener("events", (e) => {
    const m = JSON.parse(e.data), li = document.createElement("li");
    li.textContent = new Date(m.at).toLocaleTimeString() + "  " + m.text;
    feed.prepend(li);
  });
  // Events it missed were trimmed away: start over from the latest.
  es.addEventListener("reset", () => { es.close(); feed.replaceChildren(); follow(); });
}
follow();
document.getElementById("f").addEventListener("submit", async (e) => {
  e.preventDefault();
  const body = new FormData(e.target);
  e.target.reset();
  await fetch("/events/publish", {method: "POST", body: new URLSearchParams(body), headers: {Accept: "application/json"}});
});
</script>
`

// endWith runs h with a request context that also ends when done does.
func endWith(done context.Context, h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ctx, cancel := context.WithCancel(r.Context())
		defer cancel()
		stop := context.AfterFunc(done, cancel)
		defer stop()
		h.ServeHTTP(w, r.WithContext(ctx))
	})
}
