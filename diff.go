package etcdconf

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
