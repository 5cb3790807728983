// Package keys builds Redis key parts from untrusted input: hashed or
// escaped, bounded in length, never raw.
package keys

import (
	"crypto/sha256"
	"encoding/hex"
)

// Hash returns a fixed-length (32 hex characters, 128 bits) digest of s,
// safe in any key and inside a {hash tag}.
func Hash(s string) string {
	sum := sha256.Sum256([]byte(s))
	return hex.EncodeToString(sum[:16])
}

// AppendHash appends Hash(string(b)) to dst, for callers that build the
// input and the key in buffers of their own.
func AppendHash(dst, b []byte) []byte {
	sum := sha256.Sum256(b)
	return hex.AppendEncode(dst, sum[:16])
}

// HashLen is the length of Hash's digest.
const HashLen = 32

// AppendHashString appends Hash(s) to b, for a caller that builds a longer
// string around the digest in one allocation.
func AppendHashString(b []byte, s string) []byte {
	sum := sha256.Sum256([]byte(s))
	return hex.AppendEncode(b, sum[:16])
}

// MaxSafe is the longest input Safe keeps readable.
const MaxSafe = 64

// Safe returns s itself when it is short (at most MaxSafe bytes) and made
// only of [A-Za-z0-9._-], so keys stay readable in redis-cli; otherwise it
// returns "h" + Hash(s). The two forms never collide: a kept value is never
// 33 characters starting with "h" followed by hex, because such a value is
// hashed too.
func Safe(s string) string {
	if len(s) == 0 || len(s) > MaxSafe || (len(s) == 33 && s[0] == 'h') {
		return "h" + Hash(s)
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '.' || c == '_' || c == '-') {
			return "h" + Hash(s)
		}
	}
	return s
}
