package main

import (
	"embed"
	"io/fs"
	"net/http"
)

// webFiles is the demo's page: plain HTML, CSS and JavaScript, no build
// step, nothing loaded from elsewhere.
//
//go:embed web
var webFiles embed.FS

// mountWeb serves the page at / and its files beside it.
func (d *demo) mountWeb(mux *http.ServeMux) error {
	root, err := fs.Sub(webFiles, "web")
	if err != nil {
		return err
	}
	files := http.FileServerFS(root)
	mux.Handle("GET /", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "no-cache")
		w.Header().Set("Content-Security-Policy", "default-src 'self'")
		files.ServeHTTP(w, r)
	}))
	return nil
}
