package cachehandler

import (
	"bytes"
	"net/http"
	"reflect"
	"testing"
	"time"
)

func entryTestSample() *cacheEntry {
	t0 := time.Date(2026, 3, 1, 12, 0, 0, 123, time.UTC)
	return &cacheEntry{
		status: 200, flags: entryFlagAuthOK | entryFlagNoCache,
		header:       http.Header{"Content-Type": {"text/plain"}, "Etag": {`"v1"`}, "X-Multi": {"a", "b"}, "X-Empty": {""}},
		body:         []byte("hello, world"),
		requestTime:  t0,
		responseTime: t0.Add(time.Millisecond),
		initialAge:   2 * time.Second,
		fresh:        time.Minute, swr: 30 * time.Second, sie: time.Hour,
	}
}

func TestEntryRoundTrip(t *testing.T) {
	tests := []struct {
		name string
		e    *cacheEntry
	}{
		{"full", entryTestSample()},
		{"empty", &cacheEntry{status: 204, header: http.Header{}, requestTime: time.Unix(0, 0), responseTime: time.Unix(0, 0)}},
		{"binary body", &cacheEntry{status: 404, header: http.Header{"A": {"b"}}, body: []byte{0, 1, 2, 255}, requestTime: time.Unix(5, 0), responseTime: time.Unix(6, 0)}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := entryEncode(nil, tt.e)
			got, err := entryDecode(b)
			if err != nil {
				t.Fatal(err)
			}
			if !got.requestTime.Equal(tt.e.requestTime) || !got.responseTime.Equal(tt.e.responseTime) {
				t.Fatalf("times %v %v", got.requestTime, got.responseTime)
			}
			got.requestTime, got.responseTime = tt.e.requestTime, tt.e.responseTime
			if len(got.body) == 0 && len(tt.e.body) == 0 {
				got.body = tt.e.body
			}
			values := 0
			for _, v := range tt.e.header {
				values += len(v)
			}
			if got.values != values {
				t.Fatalf("%d values counted, want %d", got.values, values)
			}
			got.values = 0
			if !reflect.DeepEqual(got, tt.e) {
				t.Fatalf("decoded\n%+v\nwant\n%+v", got, tt.e)
			}
			if !bytes.Equal(entryEncode(nil, got), b) {
				t.Fatal("re-encoding differs")
			}
		})
	}
}

func TestEntryDecodeRejects(t *testing.T) {
	good := entryEncode(nil, entryTestSample())
	tests := []struct {
		name string
		b    []byte
	}{
		{"empty", nil},
		{"foreign", []byte(`{"json":true}`)},
		{"other version", append([]byte("rwc\x02"), good[4:]...)},
		{"variant index", entryEncodeVariants([]string{"accept"})},
		{"truncated header", good[:20]},
		{"bad status", entryEncode(nil, &cacheEntry{status: 42, header: http.Header{}})},
		{"huge header count", append([]byte("rwc\x01E\x00\xc8\x01\x00\x00\x00\x00\x00\x00"), 0xff, 0xff, 0xff, 0xff, 0x0f)},
		{"negative duration", append([]byte("rwc\x01E\x00\xc8\x01\x00\x00"), 0x01, 0, 0, 0, 0)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := entryDecode(tt.b); err == nil {
				t.Fatal("accepted")
			}
		})
	}
}

func TestEntryVariants(t *testing.T) {
	names := []string{"accept", "accept-encoding"}
	got, err := entryDecodeVariants(entryEncodeVariants(names))
	if err != nil || !reflect.DeepEqual(got, names) {
		t.Fatalf("%v %v", got, err)
	}
	for _, bad := range [][]byte{[]byte("rwc\x01V"), []byte("rwc\x01Va,,b"), entryEncode(nil, entryTestSample())} {
		if _, err := entryDecodeVariants(bad); err == nil {
			t.Fatalf("accepted %q", bad)
		}
	}
}

func FuzzEntryDecode(f *testing.F) {
	f.Add(entryEncode(nil, entryTestSample()))
	f.Add(entryEncode(nil, &cacheEntry{status: 204, header: http.Header{}}))
	f.Add([]byte("rwc\x01E"))
	f.Add(entryEncodeVariants([]string{"accept"}))
	f.Fuzz(func(t *testing.T, b []byte) {
		e, err := entryDecode(b)
		if err != nil {
			return
		}
		// What decodes re-encodes to something that decodes the same.
		again, err := entryDecode(entryEncode(nil, e))
		if err != nil {
			t.Fatalf("re-encoded entry does not decode: %v", err)
		}
		if again.status != e.status || !bytes.Equal(again.body, e.body) || len(again.header) != len(e.header) {
			t.Fatal("re-encoded entry differs")
		}
	})
}

func TestEntryEncodedSizeBounds(t *testing.T) {
	for _, e := range []*cacheEntry{
		entryTestSample(),
		{status: 204, header: http.Header{}},
		{status: 200, header: http.Header{"A": {string(make([]byte, 300))}}, body: make([]byte, 1<<16),
			requestTime: time.Unix(1<<40, 0), responseTime: time.Unix(1<<40, 0), fresh: 1 << 62, sie: 1 << 62},
	} {
		if n, max := len(entryEncode(nil, e)), entryEncodedSize(e); n > max {
			t.Errorf("status %d: encoded in %d bytes, bound %d", e.status, n, max)
		}
	}
}
