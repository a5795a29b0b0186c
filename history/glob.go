package history

import "unicode/utf8"

// glob is a compiled search pattern. Its syntax is that of SQLite's GLOB,
// which IPython's history search uses: "*" matches any text (newlines
// included), "?" one character, "[...]" one character of a class ("a-z"
// ranges; "^" or "!" first negates; "]" first is literal); a "[" without
// its "]" is a literal "[". Matching is case-sensitive and anchored at both
// ends.
type glob []token

type token struct {
	kind   byte // 'c' literal, '?' any, '*' star, '[' class
	r      rune
	negate bool
	ranges [][2]rune // for classes: inclusive ranges
}

func compileGlob(p string) glob {
	rs := []rune(p)
	var g glob
	for i := 0; i < len(rs); i++ {
		switch rs[i] {
		case '*':
			if len(g) == 0 || g[len(g)-1].kind != '*' {
				g = append(g, token{kind: '*'})
			}
		case '?':
			g = append(g, token{kind: '?'})
		case '[':
			if t, next, ok := parseClass(rs, i); ok {
				g = append(g, t)
				i = next - 1
				continue
			}
			g = append(g, token{kind: 'c', r: '['})
		default:
			g = append(g, token{kind: 'c', r: rs[i]})
		}
	}
	return g
}

// parseClass reads the class starting at rs[i] == '['. It returns the
// token and the index after its ']', or ok false when there is no ']'.
func parseClass(rs []rune, i int) (t token, next int, ok bool) {
	t.kind = '['
	j := i + 1
	if j < len(rs) && (rs[j] == '^' || rs[j] == '!') {
		t.negate = true
		j++
	}
	first := true
	for ; j < len(rs); j++ {
		c := rs[j]
		if c == ']' && !first {
			return t, j + 1, true
		}
		first = false
		if j+2 < len(rs) && rs[j+1] == '-' && rs[j+2] != ']' {
			t.ranges = append(t.ranges, [2]rune{c, rs[j+2]})
			j += 2
			continue
		}
		t.ranges = append(t.ranges, [2]rune{c, c})
	}
	return token{}, 0, false
}

func (t *token) matches(r rune) bool {
	switch t.kind {
	case '?':
		return true
	case 'c':
		return t.r == r
	case '[':
		in := false
		for _, rg := range t.ranges {
			if rg[0] <= r && r <= rg[1] {
				in = true
				break
			}
		}
		return in != t.negate
	}
	return false
}

// match reports whether all of s matches g. It backtracks only to the last
// star, so it runs in O(len(g)·len(s)) at worst.
func (g glob) match(s string) bool {
	pi, si := 0, 0
	star, starSi := -1, 0
	for {
		if pi < len(g) && g[pi].kind == '*' {
			star, starSi = pi, si
			pi++
			continue
		}
		if si == len(s) {
			if pi == len(g) {
				return true
			}
		} else if pi < len(g) {
			r, size := utf8.DecodeRuneInString(s[si:])
			if g[pi].matches(r) {
				pi++
				si += size
				continue
			}
		}
		// Mismatch (or pattern or text exhausted): let the last star
		// swallow one more character, if there is one.
		if star < 0 || starSi == len(s) {
			return false
		}
		_, size := utf8.DecodeRuneInString(s[starSi:])
		starSi += size
		pi, si = star+1, starSi
	}
}
