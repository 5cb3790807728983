// Package e2e drives the demo in headless Chromium (make e2e). It is a
// module of its own, so chromedp never enters the library's go.mod.
package e2e
