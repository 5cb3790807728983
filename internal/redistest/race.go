//go:build race

package redistest

// RaceEnabled reports whether the race detector is on: allocation counts
// differ under it (sync.Pool drops items at random), so allocation budget
// tests skip.
const RaceEnabled = true
