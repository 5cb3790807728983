package main

import (
	"bytes"
	"os"
	"strings"
	"testing"
)

// TestREADMEShowsTheMetricsWiring: the README's block under the metrics
// marker is, line for line, what Example_metrics runs between its README
// comments.
func TestREADMEShowsTheMetricsWiring(t *testing.T) {
	readme, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	const marker = "<!-- metrics: examples/demo/metrics_example_test.go, Example_metrics (a test checks it) -->\n```go\n"
	_, block, ok := bytes.Cut(readme, []byte(marker))
	if !ok {
		t.Fatalf("README has no %q", marker)
	}
	block, _, ok = bytes.Cut(block, []byte("\n```\n"))
	if !ok {
		t.Fatal("the README's metrics block is not closed")
	}
	src, err := os.ReadFile("metrics_example_test.go")
	if err != nil {
		t.Fatal(err)
	}
	_, lines, ok := bytes.Cut(src, []byte("\t// README: metrics\n"))
	if ok {
		lines, _, ok = bytes.Cut(lines, []byte("\t// README: end\n"))
	}
	if !ok {
		t.Fatal("Example_metrics has no README: metrics ... README: end comments")
	}
	var want []string
	for _, l := range strings.Split(strings.TrimSuffix(string(lines), "\n"), "\n") {
		want = append(want, strings.TrimPrefix(l, "\t"))
	}
	if got := strings.Split(string(block), "\n"); strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Fatalf("README:\n%s\nExample_metrics:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	if len(want) != 5 {
		t.Fatalf("the wiring is %d lines, the README promises five", len(want))
	}
}
