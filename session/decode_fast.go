package session

import (
	"strconv"
	"unicode/utf8"
)

// decodeFast decodes raw, a value's JSON, into *p without encoding/json
// when p is a *int, *int64, *string or *bool and raw is in the plainest
// form of that type: an integer without sign but '-', leading zeros,
// exponent or spaces; a string without escapes or control characters,
// in valid UTF-8; true or false. It reports whether it did; when it did
// not, json.Unmarshal decides, errors included, so the result is always
// what json.Unmarshal gives. (json.Unmarshal copies a string that needs
// no unescaping as it stands, and parses such an integer with
// strconv.ParseInt, failing where that fails.)
func decodeFast(raw string, p any) bool {
	switch p := p.(type) {
	case *int:
		if !plainInt(raw) {
			return false
		}
		n, err := strconv.ParseInt(raw, 10, strconv.IntSize)
		if err != nil {
			return false
		}
		*p = int(n)
	case *int64:
		if !plainInt(raw) {
			return false
		}
		n, err := strconv.ParseInt(raw, 10, 64)
		if err != nil {
			return false
		}
		*p = n
	case *string:
		if len(raw) < 2 || raw[0] != '"' || raw[len(raw)-1] != '"' {
			return false
		}
		s := raw[1 : len(raw)-1]
		for i := 0; i < len(s); i++ {
			if c := s[i]; c < ' ' || c == '"' || c == '\\' {
				return false
			}
		}
		if !utf8.ValidString(s) {
			return false
		}
		*p = s
	case *bool:
		switch raw {
		case "true":
			*p = true
		case "false":
			*p = false
		default:
			return false
		}
	default:
		return false
	}
	return true
}

// plainInt reports whether s is a JSON integer: an optional '-', then 0 or
// a digit 1-9 followed by digits.
func plainInt(s string) bool {
	if len(s) > 0 && s[0] == '-' {
		s = s[1:]
	}
	if len(s) == 0 || len(s) > 1 && s[0] == '0' {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}
