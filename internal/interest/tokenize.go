package interest

import (
	"strings"
	"unicode"
	"unicode/utf8"
)

// Tokenize appends the terms of text to dst and returns it. A term is a
// maximal run of letters and digits, lower-cased; hyphens between two such
// runs join them ("T-LIGHT" → "t-light"), apostrophes inside a word are
// dropped ("don't" → "dont") and a possessive "'s" is removed ("children's"
// → "children"). Terms without a letter (numbers, "3.5", "2011"), terms of
// one character and stop words are dropped. Tokenize is deterministic and
// allocates only the terms it returns.
func Tokenize(text string, dst []string) []string {
	var b strings.Builder
	letter := false // the current term has a letter
	flush := func() {
		if b.Len() == 0 {
			return
		}
		t := strings.Trim(b.String(), "-")
		b.Reset()
		if letter && utf8.RuneCountInString(t) > 1 && !stopWords[t] {
			dst = append(dst, t)
		}
		letter = false
	}
	for i := 0; i < len(text); {
		r, size := utf8.DecodeRuneInString(text[i:])
		i += size
		switch {
		case unicode.IsLetter(r):
			b.WriteRune(unicode.ToLower(r))
			letter = true
		case unicode.IsDigit(r):
			b.WriteRune(r)
		case (r == '\'' || r == '’') && b.Len() > 0:
			next, n := utf8.DecodeRuneInString(text[i:])
			if (next == 's' || next == 'S') && !wordRune(text[i+n:]) {
				i += n // possessive: drop "'s"
				flush()
			}
			// otherwise the apostrophe is dropped and the word goes on
		case r == '-' && b.Len() > 0 && wordRune(text[i:]):
			b.WriteByte('-')
		default:
			flush()
		}
	}
	flush()
	return dst
}

// wordRune reports whether s starts with a letter or digit.
func wordRune(s string) bool {
	r, _ := utf8.DecodeRuneInString(s)
	return unicode.IsLetter(r) || unicode.IsDigit(r)
}

// IsStopWord reports whether the lower-case word t is dropped by Tokenize.
func IsStopWord(t string) bool { return stopWords[t] }

// stopWords are English function words plus shop boilerplate that says
// nothing about an interest. Read-only.
var stopWords = func() map[string]bool {
	m := map[string]bool{}
	for _, w := range strings.Fields(`
a about above after again against all am an and any are as at be because been
before being below between both but by can could did do does doing down during
each few for from further had has have having he her here hers herself him
himself his how if in into is it its itself just me more most my myself no nor
not now of off on once only or other our ours ourselves out over own same she
should so some such than that the their theirs them themselves then there these
they this those through to too under until up very was we were what when where
which while who whom why will with would you your yours yourself yourselves
dont doesnt isnt arent wont cant im ive youre
per pcs pc x w h cm mm ml kg g oz lb inch inches size assorted
`) {
		m[w] = true
	}
	return m
}()
