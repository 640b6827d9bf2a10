package etcdconf

import (
	"fmt"
	"log/slog"
	"reflect"
	"slices"
	"strconv"
	"strings"

	"github.com/etcdconf/etcdconf/internal/keytree"
	"github.com/google/go-cmp/cmp"
)

// A ChangeKind says whether a [Change] added, removed or modified a value.
type ChangeKind int

const (
	Modified ChangeKind = iota // the value at Path changed
	Added                      // Path has a value now and had none before
	Removed                    // Path had a value before and has none now
)

// A Change is one field-level difference between two snapshots.
type Change struct {
	// Path locates the value from the root of T in Go syntax:
	// "DB.Port", `Services["api-1"]`, "Hosts". It is "" when T itself changed.
	Path string
	Kind ChangeKind
	// Old and New are the values before and after; Old is nil for Added, New
	// is nil for Removed. Both are nil when Secret is set.
	Old, New any
	// Keys are the full etcd keys under Path that changed between the two
	// snapshots, sorted.
	Keys []string
	// Secret reports that Path is a field tagged `etcd:",secret"`, or lies
	// under one: its values are withheld.
	Secret bool
}

// String returns "modified", "added" or "removed".
func (k ChangeKind) String() string {
	switch k {
	case Added:
		return "added"
	case Removed:
		return "removed"
	}
	return "modified"
}

// String renders the change on one line for logs: `DB.Port: 5432 -> 6432`,
// `Services["api-3"]: added {Addr:10.0.0.3:80}`, `Hosts: removed`. Secret
// values are shown as [redacted].
func (c Change) String() string {
	path := c.Path
	if path == "" {
		path = "(value)"
	}
	if c.Secret {
		return fmt.Sprintf("%s: %s [redacted]", path, c.Kind)
	}
	switch c.Kind {
	case Added:
		return fmt.Sprintf("%s: added %s", path, formatValue(c.New))
	case Removed:
		return fmt.Sprintf("%s: removed (was %s)", path, formatValue(c.Old))
	}
	return fmt.Sprintf("%s: %s -> %s", path, formatValue(c.Old), formatValue(c.New))
}

// LogValue renders the change for log/slog, secrets redacted.
func (c Change) LogValue() slog.Value { return slog.StringValue(c.String()) }

// Under reports whether the change is at path or below it: "DB" holds
// "DB", "DB.Port" and `DB["x"]`, but not "DBX". The empty path holds all.
func (c Change) Under(path string) bool {
	if path == "" || c.Path == path {
		return true
	}
	if !strings.HasPrefix(c.Path, path) {
		return false
	}
	next := c.Path[len(path)]
	return next == '.' || next == '['
}

func formatValue(v any) string {
	switch x := v.(type) {
	case string:
		return strconv.Quote(x)
	case fmt.Stringer:
		if rv := reflect.ValueOf(v); rv.Kind() == reflect.Pointer && rv.IsNil() {
			return "nil"
		}
		return x.String()
	}
	return fmt.Sprintf("%+v", v)
}

// diffSnapshots returns the field-level changes from old to new, sorted by
// path. A nil old stands for the zero T with no keys, so every field that
// new sets is a change.
func diffSnapshots[T any](old, new *Snapshot[T]) []Change {
	var ov T
	var okvs map[string]*KeyValue
	if old != nil {
		ov, okvs = old.Value, old.kvs
	} else if t := reflect.TypeFor[T](); t.Kind() == reflect.Map {
		// An empty map, so each entry of new is its own change.
		ov = reflect.MakeMap(t).Interface().(T)
	}
	prefix := new.prefix
	if cs, ok := diffFlat(any(ov), any(new.Value), prefix); ok {
		return cs
	}
	r := &reporter{changed: changedKeys(okvs, new.kvs, prefix)}
	cmp.Equal(ov, new.Value, cmp.Reporter(r), cmp.Exporter(func(reflect.Type) bool { return true }), wholeSlices)
	slices.SortFunc(r.changes, func(a, b Change) int { return strings.Compare(a.Path, b.Path) })
	return r.changes
}

// diffFlat is the fast path for flat views (map[string]string): entries
// compared directly, each entry's key its own relative path. It reports
// false for any other type.
func diffFlat(old, new any, prefix string) ([]Change, bool) {
	o, ok1 := old.(map[string]string)
	n, ok2 := new.(map[string]string)
	if !ok1 || !ok2 {
		return nil, false
	}
	var cs []Change
	for k, nv := range n {
		ov, had := o[k]
		switch {
		case !had:
			cs = append(cs, Change{Path: fmt.Sprintf("[%q]", k), Kind: Added, New: nv, Keys: []string{prefix + k}})
		case ov != nv:
			cs = append(cs, Change{Path: fmt.Sprintf("[%q]", k), Kind: Modified, Old: ov, New: nv, Keys: []string{prefix + k}})
		}
	}
	for k, ov := range o {
		if _, has := n[k]; !has {
			cs = append(cs, Change{Path: fmt.Sprintf("[%q]", k), Kind: Removed, Old: ov, Keys: []string{prefix + k}})
		}
	}
	slices.SortFunc(cs, func(a, b Change) int { return strings.Compare(a.Path, b.Path) })
	return cs, true
}

// wholeSlices makes a slice one value: a change to it is one Change of the
// whole slice, which reads better than element-wise edits of config lists.
var wholeSlices = cmp.FilterPath(func(p cmp.Path) bool {
	return p.Last().Type() != nil && p.Last().Type().Kind() == reflect.Slice
}, cmp.Comparer(func(x, y any) bool {
	return cmp.Equal(x, y, cmp.Exporter(func(reflect.Type) bool { return true }))
}))

// changedKeys returns the relative paths (split into segments) of the keys
// that differ between two snapshots, with their full keys.
func changedKeys(old, new map[string]*KeyValue, prefix string) []changedKey {
	var out []changedKey
	add := func(k string) {
		out = append(out, changedKey{key: k, segs: keytree.Segments(strings.TrimPrefix(k, prefix))})
	}
	for k, n := range new {
		if o, ok := old[k]; !ok || o.ModRevision != n.ModRevision {
			add(k)
		}
	}
	for k := range old {
		if _, ok := new[k]; !ok {
			add(k)
		}
	}
	return out
}

type changedKey struct {
	key  string
	segs []string
}

// under reports whether the key lies under segs, or supplied the value at
// segs or above it (a document, or one value decoded into a struct).
func (ck changedKey) under(segs []string) bool {
	ks := ck.segs
	if n := len(ks); n > 0 {
		if ext := keytree.DocumentExt(ks[n-1]); ext != "" {
			ks = append(slices.Clone(ks[:n-1]), strings.TrimSuffix(ks[n-1], ext))
			if ks[len(ks)-1] == "" {
				ks = ks[:len(ks)-1]
			}
		}
	}
	n := min(len(ks), len(segs))
	return segsMatch(ks[:n], segs[:n])
}

func segsMatch(a, b []string) bool {
	for i := range a {
		if a[i] != b[i] && !sameName(a[i], b[i]) {
			return false
		}
	}
	return true
}

// reporter collects go-cmp's differences as Changes.
type reporter struct {
	steps   cmp.Path
	changed []changedKey
	changes []Change
}

func (r *reporter) PushStep(ps cmp.PathStep) { r.steps = append(r.steps, ps) }
func (r *reporter) PopStep()                 { r.steps = r.steps[:len(r.steps)-1] }

func (r *reporter) Report(rs cmp.Result) {
	if rs.Equal() {
		return
	}
	vx, vy := r.steps.Last().Values()
	c := Change{Kind: Modified}
	switch {
	case !vx.IsValid() || (vx.Kind() == reflect.Pointer && vx.IsNil() && vy.IsValid() && !vy.IsNil()):
		c.Kind = Added
	case !vy.IsValid() || (vy.Kind() == reflect.Pointer && vy.IsNil()):
		c.Kind = Removed
	}
	var path strings.Builder
	var segs []string
	for i, ps := range r.steps {
		switch s := ps.(type) {
		case cmp.StructField:
			parent := r.steps[i-1].Type()
			sf := parent.Field(s.Index())
			tag := parseTag(sf)
			c.Secret = c.Secret || tag.secret
			if path.Len() > 0 {
				path.WriteByte('.')
			}
			path.WriteString(sf.Name)
			segs = append(segs, keytree.Segments(tag.name)...)
		case cmp.MapIndex:
			k := s.Key()
			if k.Kind() == reflect.String {
				fmt.Fprintf(&path, "[%q]", k.String())
				segs = append(segs, keytree.Segments(k.String())...)
			} else {
				fmt.Fprintf(&path, "[%v]", k)
				segs = append(segs, fmt.Sprint(k))
			}
		case cmp.SliceIndex:
			fmt.Fprintf(&path, "[%d]", s.Key())
		}
	}
	c.Path = path.String()
	if !c.Secret {
		c.Old, c.New = valueOf(vx), valueOf(vy)
		if c.Kind == Added {
			c.Old = nil
		}
		if c.Kind == Removed {
			c.New = nil
		}
	}
	for _, ck := range r.changed {
		if ck.under(segs) {
			c.Keys = append(c.Keys, ck.key)
		}
	}
	slices.Sort(c.Keys)
	r.changes = append(r.changes, c)
}

func valueOf(v reflect.Value) any {
	if !v.IsValid() || !v.CanInterface() {
		return nil
	}
	if v.Kind() == reflect.Pointer && !v.IsNil() {
		return v.Elem().Interface()
	}
	return v.Interface()
}
