package flagprovider

import (
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
)

// A rule is a compiled JSONLogic expression: compile turns a parsed rule
// into a tree of closures once per applied revision, so that an evaluation
// walks no JSON and allocates only what its operators return.
type rule func(*evalState) any

// evalState is what one evaluation of a targeting rule reads: the caller's
// context and the $flagd properties, answered without copying the context.
type evalState struct {
	data    map[string]any
	flagKey string
	now     int64
	// scope is the data "var" reads inside map, filter, some, all and none;
	// nil at the top, where it reads data and $flagd.
	scope any
	// null is set by a custom operator that failed (sem_ver, starts_with,
	// ends_with, fractional): flagd then answers the default variant, as if
	// the whole rule were null, rather than branching on a false.
	null bool
}

// compileError is a targeting rule that cannot run.
type compileError struct{ msg string }

func (e *compileError) Error() string { return e.msg }

func errorf(format string, args ...any) error { return &compileError{fmt.Sprintf(format, args...)} }

// compiler compiles rules against one document's $evaluators.
type compiler struct {
	evaluators map[string]any
	refs       map[string]bool // the evaluators being expanded, to refuse a cycle
	used       []string        // the evaluators a rule referenced, in order
}

// compile compiles v, a JSON value: an object of one key is an operation,
// an array a list of values, anything else a literal.
func (c *compiler) compile(v any) (rule, error) {
	switch x := v.(type) {
	case map[string]any:
		if len(x) != 1 {
			if len(x) == 0 {
				return literal(x), nil
			}
			return nil, errorf("an operation has one key, not %d", len(x))
		}
		for op, args := range x {
			return c.operation(op, args)
		}
	case []any:
		rs, err := c.list(x)
		if err != nil {
			return nil, err
		}
		return func(s *evalState) any {
			out := make([]any, len(rs))
			for i, r := range rs {
				out[i] = r(s)
			}
			return out
		}, nil
	}
	return literal(v), nil
}

func literal(v any) rule { return func(*evalState) any { return v } }

func (c *compiler) list(vs []any) ([]rule, error) {
	rs := make([]rule, len(vs))
	for i, v := range vs {
		r, err := c.compile(v)
		if err != nil {
			return nil, err
		}
		rs[i] = r
	}
	return rs, nil
}

// args compiles an operation's arguments: an array is its arguments, any
// other value the only one (JSONLogic's {"var": "x"} for {"var": ["x"]}).
func (c *compiler) args(v any) ([]rule, error) {
	if a, ok := v.([]any); ok {
		return c.list(a)
	}
	r, err := c.compile(v)
	if err != nil {
		return nil, err
	}
	return []rule{r}, nil
}

func (c *compiler) operation(op string, raw any) (rule, error) {
	if op == "$ref" {
		return c.ref(raw)
	}
	if op == "var" {
		return c.variable(raw)
	}
	args, err := c.args(raw)
	if err != nil {
		return nil, err
	}
	switch op {
	case "if", "?:":
		return ifRule(args), nil
	case "==":
		return compare(args, func(a, b any) bool { return looseEqual(a, b) }), nil
	case "!=":
		return compare(args, func(a, b any) bool { return !looseEqual(a, b) }), nil
	case "===":
		return compare(args, strictEqual), nil
	case "!==":
		return compare(args, func(a, b any) bool { return !strictEqual(a, b) }), nil
	case "!":
		return func(s *evalState) any { return !truthy(arg(args, 0, s)) }, nil
	case "!!":
		return func(s *evalState) any { return truthy(arg(args, 0, s)) }, nil
	case "or":
		return func(s *evalState) any {
			var v any
			for _, r := range args {
				if v = r(s); truthy(v) {
					return v
				}
			}
			return v
		}, nil
	case "and":
		return func(s *evalState) any {
			var v any = true
			for _, r := range args {
				if v = r(s); !truthy(v) {
					return v
				}
			}
			return v
		}, nil
	case "<", "<=", ">", ">=":
		return order(op, args), nil
	case "in":
		return func(s *evalState) any {
			needle, hay := arg(args, 0, s), arg(args, 1, s)
			switch h := hay.(type) {
			case string:
				n, ok := needle.(string)
				return ok && strings.Contains(h, n)
			case []any:
				return slices.ContainsFunc(h, func(x any) bool { return looseEqual(x, needle) })
			}
			return false
		}, nil
	case "cat":
		return func(s *evalState) any {
			var b strings.Builder
			for _, r := range args {
				b.WriteString(toString(r(s)))
			}
			return b.String()
		}, nil
	case "substr":
		return substr(args), nil
	case "+", "*":
		return fold(op, args), nil
	case "-":
		return func(s *evalState) any {
			a, ok := toNumber(arg(args, 0, s))
			if !ok {
				return nil
			}
			if len(args) == 1 {
				return -a
			}
			b, ok := toNumber(arg(args, 1, s))
			if !ok {
				return nil
			}
			return a - b
		}, nil
	case "/", "%":
		return func(s *evalState) any {
			a, ok1 := toNumber(arg(args, 0, s))
			b, ok2 := toNumber(arg(args, 1, s))
			if !ok1 || !ok2 || b == 0 {
				return nil
			}
			if op == "/" {
				return a / b
			}
			return math.Mod(a, b)
		}, nil
	case "min", "max":
		return func(s *evalState) any {
			var out float64
			for i, r := range args {
				n, ok := toNumber(r(s))
				if !ok {
					return nil
				}
				if i == 0 || (op == "min" && n < out) || (op == "max" && n > out) {
					out = n
				}
			}
			if len(args) == 0 {
				return nil
			}
			return out
		}, nil
	case "merge":
		return func(s *evalState) any {
			var out []any
			for _, r := range args {
				v := r(s)
				if a, ok := v.([]any); ok {
					out = append(out, a...)
				} else {
					out = append(out, v)
				}
			}
			return out
		}, nil
	case "map", "filter", "some", "all", "none":
		return iterate(op, args)
	case "missing":
		return func(s *evalState) any {
			var out []any
			for _, r := range args {
				names := []any{r(s)}
				if a, ok := names[0].([]any); ok {
					names = a
				}
				for _, n := range names {
					if lookup(s, toString(n)) == nil {
						out = append(out, n)
					}
				}
			}
			return out
		}, nil
	case "fractional":
		return fractional(args), nil
	case "sem_ver":
		return semVer(args), nil
	case "starts_with":
		return affix(args, strings.HasPrefix), nil
	case "ends_with":
		return affix(args, strings.HasSuffix), nil
	}
	return nil, errorf("unknown operator %q", op)
}

// ref expands {"$ref": "name"} to the evaluator of that name, compiled
// where it is used; a missing evaluator fails the rule.
func (c *compiler) ref(raw any) (rule, error) {
	name, ok := raw.(string)
	if !ok {
		return nil, errorf("$ref takes an evaluator's name")
	}
	ev, ok := c.evaluators[name]
	if !ok {
		return nil, errorf("$ref to %q: no such evaluator", name)
	}
	if c.refs[name] {
		return nil, errorf("$ref to %q refers to itself", name)
	}
	if c.refs == nil {
		c.refs = map[string]bool{}
	}
	c.refs[name] = true
	defer delete(c.refs, name)
	c.used = append(c.used, name)
	return c.compile(ev)
}

// variable compiles var: a path of dot-separated segments (a literal one
// is split now), and a default for a missing value.
func (c *compiler) variable(raw any) (rule, error) {
	args, err := c.args(raw)
	if err != nil {
		return nil, err
	}
	def := func(*evalState) any { return nil }
	if len(args) > 1 {
		def = args[1]
	}
	var path any
	if a, ok := raw.([]any); ok && len(a) > 0 {
		path = a[0]
	} else if !ok {
		path = raw
	}
	if p, ok := path.(string); ok || path == nil {
		segs := splitPath(p)
		return func(s *evalState) any {
			if v := lookupSegs(s, segs); v != nil {
				return v
			}
			return def(s)
		}, nil
	}
	if len(args) == 0 {
		return func(s *evalState) any { return lookupSegs(s, nil) }, nil
	}
	return func(s *evalState) any {
		if v := lookup(s, toString(args[0](s))); v != nil {
			return v
		}
		return def(s)
	}, nil
}

func splitPath(p string) []string {
	if p == "" {
		return nil
	}
	return strings.Split(p, ".")
}

func lookup(s *evalState, path string) any { return lookupSegs(s, splitPath(path)) }

// lookupSegs reads a var path: in the current scope, or at the top in the
// caller's context, where $flagd.flagKey and $flagd.timestamp answer first.
func lookupSegs(s *evalState, segs []string) any {
	var cur any
	if s.scope != nil {
		cur = s.scope
	} else {
		if len(segs) > 0 && segs[0] == "$flagd" {
			switch {
			case len(segs) == 1:
				return map[string]any{"flagKey": s.flagKey, "timestamp": s.now}
			case len(segs) == 2 && segs[1] == "flagKey":
				return s.flagKey
			case len(segs) == 2 && segs[1] == "timestamp":
				return s.now
			}
			return nil
		}
		if len(segs) == 0 {
			return s.data
		}
		cur = s.data
	}
	for _, seg := range segs {
		switch x := cur.(type) {
		case map[string]any:
			v, ok := x[seg]
			if !ok {
				return nil
			}
			cur = v
		case []any:
			i, err := strconv.Atoi(seg)
			if err != nil || i < 0 || i >= len(x) {
				return nil
			}
			cur = x[i]
		default:
			return nil
		}
	}
	return cur
}

func arg(args []rule, i int, s *evalState) any {
	if i >= len(args) {
		return nil
	}
	return args[i](s)
}

func ifRule(args []rule) rule {
	return func(s *evalState) any {
		i := 0
		for ; i+1 < len(args); i += 2 {
			if truthy(args[i](s)) {
				return args[i+1](s)
			}
		}
		if i < len(args) {
			return args[i](s)
		}
		return nil
	}
}

func compare(args []rule, eq func(a, b any) bool) rule {
	return func(s *evalState) any { return eq(arg(args, 0, s), arg(args, 1, s)) }
}

// order compares numbers, or two strings by their bytes; with three
// arguments, < and <= test that the middle one lies between.
func order(op string, args []rule) rule {
	less := func(a, b any, orEqual bool) bool {
		if x, ok := a.(string); ok {
			if y, ok := b.(string); ok {
				return x < y || (orEqual && x == y)
			}
		}
		x, ok1 := toNumber(a)
		y, ok2 := toNumber(b)
		if !ok1 || !ok2 {
			return false
		}
		return x < y || (orEqual && x == y)
	}
	return func(s *evalState) any {
		a, b := arg(args, 0, s), arg(args, 1, s)
		switch op {
		case "<", "<=":
			if !less(a, b, op == "<=") {
				return false
			}
			if len(args) > 2 {
				return less(b, arg(args, 2, s), op == "<=")
			}
			return true
		case ">":
			return less(b, a, false)
		}
		return less(b, a, true)
	}
}

func fold(op string, args []rule) rule {
	return func(s *evalState) any {
		out := 0.0
		if op == "*" {
			out = 1
		}
		for _, r := range args {
			n, ok := toNumber(r(s))
			if !ok {
				return nil
			}
			if op == "+" {
				out += n
			} else {
				out *= n
			}
		}
		return out
	}
}

func substr(args []rule) rule {
	return func(s *evalState) any {
		str := []rune(toString(arg(args, 0, s)))
		n := len(str)
		start, _ := toNumber(arg(args, 1, s))
		from := int(start)
		if from < 0 {
			from = max(n+from, 0)
		}
		from = min(from, n)
		to := n
		if len(args) > 2 {
			l, _ := toNumber(args[2](s))
			if l < 0 {
				to = max(n+int(l), from)
			} else {
				to = min(from+int(l), n)
			}
		}
		return string(str[from:to])
	}
}

// iterate compiles the operations that run a rule over each element of an
// array, with that element as the data its var reads.
func iterate(op string, args []rule) (rule, error) {
	if len(args) != 2 {
		return nil, errorf("%s takes an array and a rule", op)
	}
	return func(s *evalState) any {
		items, _ := args[0](s).([]any)
		saved := s.scope
		defer func() { s.scope = saved }()
		var out []any
		for _, it := range items {
			s.scope = it
			if it == nil {
				s.scope = map[string]any{}
			}
			v := args[1](s)
			switch op {
			case "map":
				out = append(out, v)
			case "filter":
				if truthy(v) {
					out = append(out, it)
				}
			case "some":
				if truthy(v) {
					return true
				}
			case "all":
				if !truthy(v) {
					return false
				}
			case "none":
				if truthy(v) {
					return false
				}
			}
		}
		switch op {
		case "some":
			return false
		case "all":
			return len(items) > 0
		case "none":
			return true
		}
		if out == nil {
			out = []any{}
		}
		return out
	}, nil
}

// affix is starts_with and ends_with: two strings, else the rule is null.
func affix(args []rule, test func(s, affix string) bool) rule {
	return func(s *evalState) any {
		if len(args) != 2 {
			s.null = true
			return nil
		}
		str, ok1 := args[0](s).(string)
		fix, ok2 := args[1](s).(string)
		if !ok1 || !ok2 {
			s.null = true
			return nil
		}
		return test(str, fix)
	}
}

// truthy is JSONLogic's truth: false, null, 0, "" and [] are false.
func truthy(v any) bool {
	switch x := v.(type) {
	case nil:
		return false
	case bool:
		return x
	case string:
		return x != ""
	case []any:
		return len(x) > 0
	}
	if n, ok := number(v); ok {
		return n != 0
	}
	return true
}

// number converts the numeric types a context or a definition holds.
func number(v any) (float64, bool) {
	switch x := v.(type) {
	case float64:
		return x, true
	case int64:
		return float64(x), true
	case int:
		return float64(x), true
	case int32:
		return float64(x), true
	case int16:
		return float64(x), true
	case int8:
		return float64(x), true
	case uint:
		return float64(x), true
	case uint64:
		return float64(x), true
	case uint32:
		return float64(x), true
	case uint16:
		return float64(x), true
	case uint8:
		return float64(x), true
	case float32:
		return float64(x), true
	}
	return 0, false
}

// toNumber is number, also reading a numeric string and a bool.
func toNumber(v any) (float64, bool) {
	if n, ok := number(v); ok {
		return n, true
	}
	switch x := v.(type) {
	case string:
		n, err := strconv.ParseFloat(strings.TrimSpace(x), 64)
		return n, err == nil
	case bool:
		if x {
			return 1, true
		}
		return 0, true
	case nil:
		return 0, true
	}
	return 0, false
}

func toString(v any) string {
	switch x := v.(type) {
	case nil:
		return ""
	case string:
		return x
	case bool:
		return strconv.FormatBool(x)
	}
	if n, ok := number(v); ok {
		return strconv.FormatFloat(n, 'f', -1, 64)
	}
	return fmt.Sprint(v)
}

// looseEqual is JSONLogic's ==: numbers, and a number and a numeric
// string or bool, compare as numbers.
func looseEqual(a, b any) bool {
	if a == nil || b == nil {
		return a == nil && b == nil
	}
	if x, ok := a.(string); ok {
		if y, ok := b.(string); ok {
			return x == y
		}
	}
	if x, ok := a.(bool); ok {
		if y, ok := b.(bool); ok {
			return x == y
		}
	}
	x, ok1 := toNumber(a)
	y, ok2 := toNumber(b)
	return ok1 && ok2 && x == y
}

// strictEqual is ===: the same kind of value, and equal.
func strictEqual(a, b any) bool {
	if x, ok := number(a); ok {
		y, ok := number(b)
		return ok && x == y
	}
	switch x := a.(type) {
	case nil:
		return b == nil
	case string:
		y, ok := b.(string)
		return ok && x == y
	case bool:
		y, ok := b.(bool)
		return ok && x == y
	}
	return false
}
