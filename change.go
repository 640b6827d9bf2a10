package etcdconf

import (
	"fmt"
	"log/slog"
	"reflect"
	"strconv"

	"github.com/etcdconf/etcdconf/internal/codec"
)

// A ChangeKind says whether a [Change] added, removed or modified a value.
type ChangeKind int

// The kinds of change. The zero ChangeKind is none of them: a Change
// that was never filled in does not pass for a modification.
const (
	ChangeAdded    ChangeKind = iota + 1 // Path has a value now and had none before
	ChangeRemoved                        // Path had a value before and has none now
	ChangeModified                       // the value at Path changed
)

// A Change is one field-level difference between two snapshots.
type Change struct {
	// Path locates the value from the root of T in Go syntax:
	// "DB.Port", `Services["api-1"]`, "Hosts". It is "" when T itself changed.
	Path string
	Kind ChangeKind
	// Old and New are the values before and after; Old is nil for ChangeAdded,
	// New is nil for ChangeRemoved. A pointer is given as the value it points to.
	// Both are nil when Secret is set.
	Old, New any
	// Keys are the full etcd keys under Path that changed between the two
	// snapshots, and the keys above it that supplied it (a document), sorted.
	Keys []string
	// Secret reports that the values are withheld: Path is a field tagged
	// `etcd:",secret"`, lies under one, or holds one (a struct with a secret
	// field, added as a map entry). String and LogValue then show the value
	// with each secret field as [redacted], or [redacted] alone.
	Secret bool

	// oldText and newText render a withheld value with its secrets redacted.
	oldText, newText string
}

// String returns "added", "removed" or "modified", and "ChangeKind(n)"
// for any other value.
func (k ChangeKind) String() string {
	switch k {
	case ChangeAdded:
		return "added"
	case ChangeRemoved:
		return "removed"
	case ChangeModified:
		return "modified"
	}
	return "ChangeKind(" + strconv.Itoa(int(k)) + ")"
}

// String renders the change on one line for logs: `DB.Port: 5432 -> 6432`,
// `Services["api-3"]: added {Addr:10.0.0.3:80}`, `Hosts[0]: removed (was "x")`.
// Values show as fmt's %+v, except that types with a String or MarshalText
// method show as that, and secret values as [redacted].
func (c Change) String() string {
	path := c.Path
	if path == "" {
		path = "(value)"
	}
	o, n := c.oldText, c.newText
	switch {
	case c.Secret && o == "" && n == "":
		return fmt.Sprintf("%s: %s [redacted]", path, c.Kind)
	case !c.Secret:
		o, n = formatValue(c.Old), formatValue(c.New)
	}
	switch c.Kind {
	case ChangeAdded:
		return fmt.Sprintf("%s: added %s", path, n)
	case ChangeRemoved:
		return fmt.Sprintf("%s: removed (was %s)", path, o)
	}
	return fmt.Sprintf("%s: %s -> %s", path, o, n)
}

// LogValue renders the change for log/slog, secrets redacted.
func (c Change) LogValue() slog.Value { return slog.StringValue(c.String()) }

// Under reports whether the change is at path or below it, step by step:
// "DB" holds "DB", "DB.Port" and `DB["x"]`, but not "DBX"; `M["a"]` does
// not hold `M["a.b"]`. The empty path holds all.
func (c Change) Under(path string) bool { return codec.PathUnder(c.Path, path) }

func formatValue(v any) string {
	s, _ := codec.RenderValue(reflect.ValueOf(v))
	return s
}
