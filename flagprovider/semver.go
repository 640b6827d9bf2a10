package flagprovider

import (
	"strconv"
	"strings"
)

// semVer is flagd's sem_ver operator: [version, op, version] with op one of
// = != < <= > >= (by semantic-version precedence), ^ (same major) and ~
// (same major and minor). A leading v is ignored, a partial version ("1",
// "1.2") is completed with zeros, and build metadata is ignored. Anything
// that is not such a triple makes the whole rule null.
func semVer(args []rule) rule {
	return func(s *evalState) any {
		if len(args) != 3 {
			s.null = true
			return nil
		}
		a, ok1 := parseVersion(toString(args[0](s)))
		op, _ := args[1](s).(string)
		b, ok2 := parseVersion(toString(args[2](s)))
		if !ok1 || !ok2 {
			s.null = true
			return nil
		}
		c := a.compare(b)
		switch op {
		case "=":
			return c == 0
		case "!=":
			return c != 0
		case "<":
			return c < 0
		case "<=":
			return c <= 0
		case ">":
			return c > 0
		case ">=":
			return c >= 0
		case "^":
			return a.major == b.major
		case "~":
			return a.major == b.major && a.minor == b.minor
		}
		s.null = true
		return nil
	}
}

type version struct {
	major, minor, patch uint64
	pre                 []string
}

func parseVersion(v string) (version, bool) {
	v = strings.TrimPrefix(strings.TrimPrefix(v, "v"), "V")
	if i := strings.IndexByte(v, '+'); i >= 0 {
		v = v[:i]
	}
	var out version
	if i := strings.IndexByte(v, '-'); i >= 0 {
		out.pre = strings.Split(v[i+1:], ".")
		for _, p := range out.pre {
			if p == "" {
				return version{}, false
			}
		}
		v = v[:i]
	}
	parts := strings.Split(v, ".")
	if len(parts) > 3 {
		return version{}, false
	}
	nums := []*uint64{&out.major, &out.minor, &out.patch}
	for i, p := range parts {
		n, err := strconv.ParseUint(p, 10, 64)
		if err != nil || (len(p) > 1 && p[0] == '0') {
			return version{}, false
		}
		*nums[i] = n
	}
	return out, true
}

// compare orders by semantic-version precedence: a pre-release precedes
// its release; identifiers compare numerically when both are numbers.
func (a version) compare(b version) int {
	for _, d := range [][2]uint64{{a.major, b.major}, {a.minor, b.minor}, {a.patch, b.patch}} {
		if d[0] != d[1] {
			if d[0] < d[1] {
				return -1
			}
			return 1
		}
	}
	switch {
	case len(a.pre) == 0 && len(b.pre) == 0:
		return 0
	case len(a.pre) == 0:
		return 1
	case len(b.pre) == 0:
		return -1
	}
	for i := 0; i < len(a.pre) && i < len(b.pre); i++ {
		x, y := a.pre[i], b.pre[i]
		xn, errx := strconv.ParseUint(x, 10, 64)
		yn, erry := strconv.ParseUint(y, 10, 64)
		switch {
		case errx == nil && erry == nil:
			if xn != yn {
				if xn < yn {
					return -1
				}
				return 1
			}
		case errx == nil:
			return -1
		case erry == nil:
			return 1
		case x != y:
			return strings.Compare(x, y)
		}
	}
	switch {
	case len(a.pre) < len(b.pre):
		return -1
	case len(a.pre) > len(b.pre):
		return 1
	}
	return 0
}
