// Package codec maps the keys of a prefix to a value of a Go type and
// back: the schema of a type, the canonical tree, decoding (whole and
// incremental), encoding, write plans, diffs and Go paths. It speaks key
// sets, with keys relative to the prefix, and values; it knows nothing of
// etcd's client, of watchers or of options. The root package wraps it:
// its public KeyValue, Change and DecodeError are converted from this
// package's at the API boundary, and its Flag registers itself as a
// named type (see RegisterNamed).
package codec

import (
	"fmt"
	"reflect"
	"strconv"
	"sync"
)

// A KeyValue is one key with its metadata. Key is relative to the
// prefix. Its fields are those of the root package's KeyValue, and an
// origin. It is laid out for the key state, which holds one per key
// inside its tree's node: Value is a string, shared with the decoded
// value where that holds it as it is, and the lease and origin, which
// most keys do not have, are kept apart, so a node is 80 bytes.
type KeyValue struct {
	Key            string
	Value          string
	CreateRevision int64
	ModRevision    int64
	Version        int64
	more           *kvMore // nil for a key with no lease and no origin
}

type kvMore struct {
	lease  int64
	origin string
}

// Lease returns the ID of the lease attached to the key; 0 for none.
func (kv *KeyValue) Lease() int64 {
	if kv.more == nil {
		return 0
	}
	return kv.more.lease
}

// Origin says where a key not read from etcd came from, as
// Snapshot.Source names it ("file /etc/app.yaml", "env APP_DB_PORT",
// "default"); "" for etcd's keys. See Layers.
func (kv *KeyValue) Origin() string {
	if kv.more == nil {
		return ""
	}
	return kv.more.origin
}

// WithLease returns kv with the lease id attached; kv is not changed.
func (kv KeyValue) WithLease(id int64) *KeyValue {
	kv.more = withMore(kv.more, func(m *kvMore) { m.lease = id })
	return &kv
}

// WithOrigin returns kv with origin o; kv is not changed.
func (kv KeyValue) WithOrigin(o string) *KeyValue {
	kv.more = withMore(kv.more, func(m *kvMore) { m.origin = o })
	return &kv
}

func withMore(m *kvMore, set func(*kvMore)) *kvMore {
	var c kvMore
	if m != nil {
		c = *m
	}
	set(&c)
	if c == (kvMore{}) {
		return nil
	}
	return &c
}

// OrdKey returns kv's key: the key state orders its tree by it.
func (kv *KeyValue) OrdKey() string { return kv.Key }

// A Kind says whether a Change added, removed or modified a value.
type Kind int

// The kinds of change; the zero Kind is none of them.
const (
	Added Kind = iota + 1
	Removed
	Modified
)

// String returns "added", "removed" or "modified", and "Kind(n)" for any
// other value.
func (k Kind) String() string {
	switch k {
	case Added:
		return "added"
	case Removed:
		return "removed"
	case Modified:
		return "modified"
	}
	return "Kind(" + strconv.Itoa(int(k)) + ")"
}

// A Change is one field-level difference between two values: the root
// package's Change, with the redacted renderings of a withheld value
// (OldText, NewText) exported.
type Change struct {
	Path             string
	Kind             Kind
	Old, New         any
	Keys             []string
	Secret           bool
	OldText, NewText string
}

// An Error is a decode error: the key at fault (in full; empty when the
// value as a whole was rejected), the revision, and the cause. The root
// package makes its DecodeError from it (see NewError).
type Error struct {
	Key      string
	Revision int64
	Err      error
}

func (e *Error) Error() string {
	switch {
	case e.Key == "" && e.Revision == 0:
		return fmt.Sprintf("etcdconf: invalid configuration: %v", e.Err)
	case e.Key == "":
		return fmt.Sprintf("etcdconf: revision %d: invalid configuration: %v", e.Revision, e.Err)
	case e.Revision == 0:
		return fmt.Sprintf("etcdconf: key %q: %v", e.Key, e.Err)
	}
	return fmt.Sprintf("etcdconf: key %q at revision %d: %v", e.Key, e.Revision, e.Err)
}

func (e *Error) Unwrap() error { return e.Err }

// NewError makes every decode error the package returns; the root package
// sets it, once, to make its DecodeError. By default it makes an *Error.
var NewError = func(key string, rev int64, err error) error {
	return &Error{Key: key, Revision: rev, Err: err}
}

// A Named type is one the decoder gives the Go path it was decoded at,
// and may build from a document's native scalars: the root package's
// Flag.
type Named struct {
	// SetName names v, an addressable value of the type, path.
	SetName func(v reflect.Value, path string)
	// FromScalar builds a value of the type from a document's native
	// scalar (a bool or a number), or says why it cannot; nil leaves
	// native scalars to the other hooks.
	FromScalar func(x any) (any, error)
}

var (
	named   sync.Map // reflect.Type -> Named
	holders sync.Map // reflect.Type -> bool: whether a value of it can hold a named type
)

// RegisterNamed makes t a named type. Call it from an init function,
// before anything is decoded.
func RegisterNamed(t reflect.Type, n Named) { named.Store(t, n) }

func namedOf(t reflect.Type) (Named, bool) {
	n, ok := named.Load(t)
	if !ok {
		return Named{}, false
	}
	return n.(Named), true
}

// holdsNamed reports whether a value of type t can hold a named type.
func holdsNamed(t reflect.Type) bool {
	if v, ok := holders.Load(t); ok {
		return v.(bool)
	}
	holders.Store(t, false) // a recursive type asks again while we look
	_, holds := namedOf(t)
	switch gt := goType(t); gt.Kind() {
	case reflect.Struct:
		if !holds {
			for _, f := range SchemaOf(gt).fields {
				holds = holds || holdsNamed(f.typ)
			}
		}
	case reflect.Pointer, reflect.Slice, reflect.Array, reflect.Map:
		holds = holdsNamed(gt.Elem())
	}
	holders.Store(t, holds)
	return holds
}

// NameValues gives every value of a named type in v, found at path, its
// Go path as name. v is a freshly decoded value: maps are changed in place.
func NameValues(v reflect.Value, path string) {
	if !holdsNamed(v.Type()) {
		return
	}
	if n, ok := namedOf(v.Type()); ok {
		n.SetName(v, path)
		return
	}
	if mt, ok := MapTypeOf(v.Type()); ok {
		g := mt.ToGo(v)
		NameValues(g, path)
		v.Set(mt.FromGo(g))
		return
	}
	switch v.Kind() {
	case reflect.Pointer:
		if !v.IsNil() {
			NameValues(v.Elem(), path)
		}
	case reflect.Struct:
		for _, f := range SchemaOf(v.Type()).fields {
			NameValues(v.Field(f.index), JoinPath(path, f.name))
		}
	case reflect.Slice, reflect.Array:
		for i := range v.Len() {
			NameValues(v.Index(i), fmt.Sprintf("%s[%d]", path, i))
		}
	case reflect.Map:
		for it := v.MapRange(); it.Next(); {
			e := reflect.New(v.Type().Elem()).Elem()
			e.Set(it.Value())
			NameValues(e, fmt.Sprintf("%s[%s]", path, formatMapKey(it.Key())))
			v.SetMapIndex(it.Key(), e)
		}
	}
}

// formatMapKey renders a map key as Change.Path does: quoted strings.
func formatMapKey(k reflect.Value) string {
	if k.Kind() == reflect.String {
		return strconv.Quote(k.String())
	}
	return fmt.Sprint(k.Interface())
}
