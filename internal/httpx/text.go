package httpx

import (
	"strconv"
	"strings"
	"unicode/utf8"
)

// TextProblem says what is wrong with text a client sent, or "": invalid
// UTF-8 would be stored with replacement characters, and a NUL cannot be
// stored by every database and is never meant.
func TextProblem(s string) string {
	if !utf8.ValidString(s) {
		return "is not valid UTF-8"
	}
	if strings.IndexByte(s, 0) >= 0 {
		return "holds a NUL character"
	}
	return ""
}

// JSONTextProblem says what is wrong with the text in valid JSON, or "":
// bytes that are not UTF-8, an escaped UTF-16 surrogate without its pair
// (both decode to U+FFFD without an error), or an escaped NUL.
func JSONTextProblem(raw []byte) string {
	const unpaired = "is not valid UTF-8 (it holds an unpaired UTF-16 surrogate)"
	if !utf8.Valid(raw) {
		return "is not valid UTF-8"
	}
	for i := 0; i < len(raw); i++ {
		if raw[i] != '\\' {
			continue
		}
		i++ // the escaped character: valid JSON has one
		if raw[i] != 'u' {
			continue
		}
		cp := hex4(raw[i+1 : i+5])
		i += 4
		switch {
		case cp == 0:
			return "holds a NUL character"
		case cp >= 0xDC00 && cp <= 0xDFFF:
			return unpaired
		case cp >= 0xD800 && cp <= 0xDBFF:
			if i+6 >= len(raw) || raw[i+1] != '\\' || raw[i+2] != 'u' {
				return unpaired
			}
			if lo := hex4(raw[i+3 : i+7]); lo < 0xDC00 || lo > 0xDFFF {
				return unpaired
			}
			i += 6
		}
	}
	return ""
}

// hex4 reads the four hex digits valid JSON has after \u.
func hex4(b []byte) rune {
	var r rune
	for _, c := range b {
		r <<= 4
		switch {
		case c >= '0' && c <= '9':
			r |= rune(c - '0')
		case c >= 'a' && c <= 'f':
			r |= rune(c - 'a' + 10)
		case c >= 'A' && c <= 'F':
			r |= rune(c - 'A' + 10)
		}
	}
	return r
}

// Printable makes client text safe to echo unquoted, as a parameter name
// in an error's source: invalid UTF-8 and control characters become '?'.
func Printable(s string) string {
	return strings.Map(func(r rune) rune {
		if r == utf8.RuneError || r < 0x20 || r == 0x7f {
			return '?'
		}
		return r
	}, s)
}

// Quote quotes client text for an error message (Go quoting, so control
// characters and invalid bytes are escaped), cut at 100 bytes.
func Quote(s string) string {
	const max = 100
	if len(s) > max {
		cut := max
		for cut > 0 && !utf8.RuneStart(s[cut]) {
			cut--
		}
		return strconv.Quote(s[:cut]) + "…"
	}
	return strconv.Quote(s)
}
