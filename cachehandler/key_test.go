package cachehandler

import (
	"net/http"
	"net/http/httptest"
	"net/url"
	"reflect"
	"testing"
)

func TestHTTPNormalURL(t *testing.T) {
	tests := []struct{ in, want string }{
		{"http://Example.COM:80/a?b=2&a=1", "http://example.com/a?a=1&b=2"},
		{"https://example.com:443", "https://example.com/"},
		{"https://example.com:8443/x", "https://example.com:8443/x"},
		{"http://example.com/a%20b?q=%zz", "http://example.com/a%20b?q=%zz"},
		{"http://example.com/?a=1&a=0", "http://example.com/?a=1&a=0"},
	}
	for _, tt := range tests {
		u, err := url.Parse(tt.in)
		if err != nil {
			t.Fatal(err)
		}
		if got := httpNormalURL(u); got != tt.want {
			t.Errorf("%s: %s, want %s", tt.in, got, tt.want)
		}
	}
	r := httptest.NewRequest("GET", "/p?x=1", nil)
	r.Host = "Example.com"
	if got := httpNormalURL(httpRequestURL(r)); got != "http://example.com/p?x=1" {
		t.Errorf("server request: %s", got)
	}
}

func TestHTTPVaryNames(t *testing.T) {
	tests := []struct {
		h     http.Header
		names []string
		star  bool
	}{
		{http.Header{"Vary": {"Accept-Encoding, accept", "ACCEPT"}}, []string{"accept", "accept-encoding"}, false},
		{http.Header{"Vary": {"Accept, *"}}, nil, true},
		{http.Header{}, nil, false},
	}
	for _, tt := range tests {
		names, star := httpVaryNames(tt.h)
		if star != tt.star || !reflect.DeepEqual(names, tt.names) {
			t.Errorf("%v: %v %v", tt.h, names, star)
		}
	}
}
