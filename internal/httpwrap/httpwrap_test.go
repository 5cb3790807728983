package httpwrap

import (
	"bufio"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

func TestBeforeHeaderRunsOnceBeforeStatus(t *testing.T) {
	tests := []struct {
		name    string
		handler func(w http.ResponseWriter)
		status  int
	}{
		{"WriteHeader", func(w http.ResponseWriter) { w.WriteHeader(http.StatusTeapot); w.WriteHeader(500) }, http.StatusTeapot},
		{"Write", func(w http.ResponseWriter) { _, _ = w.Write([]byte("a")); _, _ = w.Write([]byte("b")) }, http.StatusOK},
		{"ReadFrom", func(w http.ResponseWriter) { _, _ = w.(io.ReaderFrom).ReadFrom(strings.NewReader("ab")) }, http.StatusOK},
		{"Flush", func(w http.ResponseWriter) { w.(http.Flusher).Flush(); _, _ = w.Write([]byte("ab")) }, http.StatusOK},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rec := httptest.NewRecorder()
			calls := 0
			w := New(rec, Options{BeforeHeader: func(w *Writer, status int) {
				calls++
				if status != tt.status {
					t.Errorf("callback status = %d, want %d", status, tt.status)
				}
				w.Header().Set("X-Before", "yes")
			}})
			tt.handler(w)
			if calls != 1 {
				t.Fatalf("callback ran %d times, want 1", calls)
			}
			if rec.Code != tt.status || rec.Header().Get("X-Before") != "yes" {
				t.Fatalf("recorded %d, X-Before=%q", rec.Code, rec.Header().Get("X-Before"))
			}
			if w.Status() != tt.status {
				t.Fatalf("Status() = %d", w.Status())
			}
		})
	}
}

func TestInformationalIsNotTheStatusLine(t *testing.T) {
	calls := 0
	srv := httptest.NewServer(http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
		w := New(rw, Options{BeforeHeader: func(w *Writer, status int) {
			calls++
			if status != http.StatusCreated {
				t.Errorf("callback saw %d, want 201", status)
			}
		}})
		w.Header().Set("Link", "</a.css>; rel=preload")
		w.WriteHeader(http.StatusEarlyHints)
		w.WriteHeader(http.StatusCreated)
	}))
	t.Cleanup(srv.Close)
	res, err := http.Get(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != http.StatusCreated || calls != 1 {
		t.Fatalf("status %d, callback ran %d times", res.StatusCode, calls)
	}
}

func TestCapture(t *testing.T) {
	tests := []struct {
		name     string
		limit    int
		writes   []string
		body     string
		overflow bool
	}{
		{"no limit", 0, []string{"hello ", "world"}, "hello world", false},
		{"at limit", 5, []string{"he", "llo"}, "hello", false},
		{"past limit", 4, []string{"he", "llo", "x"}, "", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rec := httptest.NewRecorder()
			w := New(rec, Options{Capture: true, CaptureLimit: tt.limit})
			for _, s := range tt.writes {
				_, _ = w.Write([]byte(s))
			}
			if string(w.Body()) != tt.body || w.Overflowed() != tt.overflow {
				t.Fatalf("Body=%q Overflowed=%v; want %q %v", w.Body(), w.Overflowed(), tt.body, tt.overflow)
			}
			if got := rec.Body.String(); got != strings.Join(tt.writes, "") {
				t.Fatalf("client got %q: the capture limit must not cut the response", got)
			}
			if w.Written() != int64(rec.Body.Len()) {
				t.Fatalf("Written() = %d, want %d", w.Written(), rec.Body.Len())
			}
		})
	}
}

// wrap2 nests two Writers, as two middlewares would.
func wrap2(h http.HandlerFunc) http.Handler {
	mw := func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			next.ServeHTTP(New(w, Options{BeforeHeader: func(w *Writer, _ int) { w.Header().Add("X-Layer", "1") }}), r)
		})
	}
	return mw(mw(h))
}

func TestFlushThroughTwoWrappers(t *testing.T) {
	release := make(chan struct{})
	srv := httptest.NewServer(wrap2(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.WriteString(w, "first\n")
		if err := http.NewResponseController(w).Flush(); err != nil {
			t.Errorf("Flush: %v", err)
		}
		<-release // the client must see "first" before the handler returns
		_, _ = io.WriteString(w, "second\n")
	}))
	t.Cleanup(srv.Close)
	res, err := http.Get(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	if got := res.Header.Values("X-Layer"); len(got) != 2 {
		t.Fatalf("X-Layer = %v, want both layers' callbacks", got)
	}
	br := bufio.NewReader(res.Body)
	line, err := br.ReadString('\n')
	if err != nil || line != "first\n" {
		t.Fatalf("first line %q, %v", line, err)
	}
	close(release)
	line, err = br.ReadString('\n')
	if err != nil || line != "second\n" {
		t.Fatalf("second line %q, %v", line, err)
	}
}

func TestHijackThroughTwoWrappers(t *testing.T) {
	srv := httptest.NewServer(wrap2(func(w http.ResponseWriter, r *http.Request) {
		conn, rw, err := http.NewResponseController(w).Hijack()
		if err != nil {
			t.Errorf("Hijack: %v", err)
			return
		}
		defer conn.Close()
		_, _ = rw.WriteString("HTTP/1.1 200 OK\r\nContent-Length: 8\r\nConnection: close\r\n\r\nhijacked")
		_ = rw.Flush()
	}))
	t.Cleanup(srv.Close)
	res, err := http.Get(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	if string(b) != "hijacked" {
		t.Fatalf("body %q", b)
	}
	if res.Header.Get("X-Layer") != "" {
		t.Fatal("a hijacked response must not go through the callbacks")
	}
}

func TestFlushErrorWithoutFlusher(t *testing.T) {
	w := New(struct{ http.ResponseWriter }{httptest.NewRecorder()}, Options{})
	if err := w.FlushError(); err == nil {
		t.Fatal("FlushError on a writer that cannot flush returned nil")
	}
}

func TestDiscardAnswersInTheHandlersPlace(t *testing.T) {
	errGone := errors.New("replaced")
	rec := httptest.NewRecorder()
	w := New(rec, Options{BeforeHeader: func(w *Writer, status int) {
		clear(w.Header())
		http.Error(w.Unwrap(), "unavailable", http.StatusServiceUnavailable)
		w.Discard(errGone)
	}})
	w.Header().Set("X-Handler", "1")
	w.WriteHeader(http.StatusOK)
	if n, err := w.Write([]byte("handler body")); n != 0 || !errors.Is(err, errGone) {
		t.Fatalf("Write after Discard = %d, %v", n, err)
	}
	if n, err := w.ReadFrom(strings.NewReader("more")); n != 0 || !errors.Is(err, errGone) {
		t.Fatalf("ReadFrom after Discard = %d, %v", n, err)
	}
	if err := w.FlushError(); err != nil {
		t.Fatalf("FlushError after Discard = %v", err)
	}
	if rec.Code != http.StatusServiceUnavailable || rec.Body.String() != "unavailable\n" || rec.Header().Get("X-Handler") != "" {
		t.Fatalf("client got %d %q %v", rec.Code, rec.Body, rec.Header())
	}
}
