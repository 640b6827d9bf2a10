package etcdconf

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"math/rand/v2"
	"reflect"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/etcdconf/etcdconf/internal/codec"
	"github.com/etcdconf/etcdconf/internal/wide"
)

// Types the oracle drives: a flat view, a typed flat view whose values
// decode from text (and may fail to), a registry of structs with
// documents, collisions and a Validate, a map of maps, a struct applied
// field by field, and a struct whose Validate may derive a field no key
// feeds (which always takes the full decode).
type (
	oracleEntry struct {
		N    int64
		Text string
	}
	oracleInstance struct {
		Addr   string
		Weight int
		Tags   []string
		Meta   map[string]string
		Token  string `etcd:"token,secret"`
	}
	oracleRegistry map[string]oracleInstance
	// oraclePlainRegistry and oraclePlainStruct have no Validate, so their
	// diffs are incremental too.
	oraclePlainRegistry map[string]oracleInstance
	oracleStruct        struct {
		A    oracleInstance
		Apis map[string]*oracleInstance
		B    map[string]string
		C    *oracleInstance
		Api1 oracleInstance `etcd:"api-1"`
		Svc1 int
		// Services is a registry inside a struct, applied by its entries
		// (services/a/addr, services/a.yaml) unless a key sits at the field
		// (services, services.yaml) or spells it twice (Services/a).
		Services map[string]oracleInstance
	}
	oraclePlainStruct oracleStruct
	// oracleValidated is a struct with a Validate and only key-fed fields,
	// which applies incrementally too.
	oracleValidated struct {
		A      oracleInstance
		Api10  []string
		Svc1   *oracleInstance
		Flags  map[string]Flag `etcd:"c"`
		Hidden string          `etcd:"-"`
	}
)

func (v *oracleStruct) Validate() error {
	if v.Api1.Weight < 0 {
		return errors.New("Api1: negative weight")
	}
	return nil
}

func (v *oracleValidated) Validate() error {
	if v.A.Weight < 0 {
		return errors.New("A: negative weight")
	}
	return nil
}

func (e *oracleEntry) UnmarshalText(b []byte) error {
	n, err := strconv.ParseInt(string(b), 10, 64)
	if err != nil {
		return err
	}
	e.N, e.Text = n, string(b)
	return nil
}

// Validate reports the least entry with a negative weight: an error that
// depends on map order would differ between any two decodes.
func (r oracleRegistry) Validate() error {
	for _, k := range slices.Sorted(maps.Keys(r)) {
		if in := r[k]; in.Weight < 0 {
			return fmt.Errorf("%s: negative weight", k)
		}
	}
	return nil
}

// oracleOp is one put (value non-nil) or delete of a key relative to /app/.
type oracleOp struct {
	path  string
	value *string
}

// oracleGen makes keys and values from a small alphabet, so that puts and
// deletes meet: the same entries, two spellings of one field, a value
// beside a subtree, documents over plain keys, odd spellings.
// Deletes pick an existing key (from keys) half the time, so that broken
// states are mended and most transactions start from a good one.
type oracleGen struct {
	next func(n int) int
	keys func() []string // paths present now
}

func (g oracleGen) pick(xs ...string) string { return xs[g.next(len(xs))] }

func (g oracleGen) op() oracleOp {
	if keys := g.keys(); len(keys) > 0 && g.next(2) == 0 {
		return oracleOp{path: keys[g.next(len(keys))]}
	}
	entry := g.pick("a", "b", "c", "api-1", "api-10", "svc-1", "services")
	var path, value string
	switch n := g.next(100); {
	case n < 2: // an odd spelling, a key at the prefix itself
		path = g.pick("", "/a/addr", "a/", "a//weight", ".yaml", "a/.yaml", "/")
		value = g.pick("1", "addr: z\n")
	case n < 5: // a value that does not decode or validate, a colliding spelling
		path = entry + "/" + g.pick("weight", "Addr", "Weight", "meta", "tags")
		value = g.pick("x", "-1", "\xff", "[", "4")
	case n < 12: // a document, at times one that collides or fails
		path = entry + g.pick(".yaml", ".yaml", ".yaml", ".json", ".yml")
		value = g.pick("addr: h\nweight: 2\n", `{"weight": 3, "tags": ["x", "y"]}`, "meta:\n  k: v\n", "addr: i\n", "addr: h\nweight: 2\n", `{"weight": 3, "tags": ["x", "y"]}`, "meta:\n  k: v\n",
			"token: s3cret\n", "", "weight: -1\n", "[", "7")
	case n < 15: // a value for the entry itself
		path, value = entry, g.pick("5", "6")
	default: // a field, or a key under one
		path = entry + "/" + g.pick("addr", "weight", "tags", "token")
		if g.next(5) == 0 {
			path = entry + "/meta/" + g.pick("k", "l")
		}
		value = strconv.Itoa(g.next(10))
	}
	switch n := g.next(40); { // under a map field of the struct types
	case n < 8:
		path = "services/" + path
	case n < 12:
		path = "apis/" + path
	case n < 13:
		path = "Services/" + path
	}
	if g.next(6) == 0 {
		return oracleOp{path: path}
	}
	return oracleOp{path: path, value: &value}
}

// oracle holds the state of one run: the keys and the published snapshot,
// whose keys differ from them by more than the last batch after a
// rejection, as in the watcher.
type oracle[T any] struct {
	d       *codec.Decoder[T]
	kvs     *codec.KeySet
	prev    *Snapshot[T]
	rev     int64
	steps   int // batches applied
	inc     int // of them, applied incrementally
	history []*Snapshot[T]
	frozen  map[*Snapshot[T]]T // deep copies of history's values, made as they were published
	pick    func(n int) int
	between int // catch-up diffs computed from the changed keys
}

func newOracle[T any](t testing.TB) *oracle[T] {
	d, err := codec.NewDecoder[T]("/app/", codec.Config{})
	if err != nil {
		t.Fatal(err)
	}
	v, err := d.DecodeSet(codec.NewKeySet(), 1)
	if err != nil {
		t.Fatal(err)
	}
	return &oracle[T]{d: d, kvs: codec.NewKeySet(), prev: &Snapshot[T]{Value: v, Revision: 1, Generation: 1, prefix: "/app/", kvs: codec.NewKeySet()}, rev: 1}
}

// step applies one transaction incrementally (decoder.next, as the watcher
// does) and by the full decode, and fails unless both give the same value,
// the same error and the same Changes.
func (o *oracle[T]) step(t testing.TB, ops []oracleOp) {
	t.Helper()
	next := o.next(ops)
	o.kvs, o.steps = next, o.steps+1
	if o.pick != nil && o.pick(2) == 0 {
		o.d.MakeSpares(o.prev.decoded()) // as the watch loop does while it waits: the next apply changes the copy
	}
	v, delta, inc, err := o.d.Next(o.prev.decoded(), next, o.rev)
	// The general path (tree, canonical form, mapstructure) is the oracle:
	// the leaves' fast path is checked against it too.
	want, wantErr := o.d.DecodeTree(next.Len(), next.All(), o.rev, true)
	if fmt.Sprint(err) != fmt.Sprint(wantErr) {
		t.Fatalf("revision %d %v: error %v, full decode %v", o.rev, ops, err, wantErr)
	}
	var de, wde *DecodeError
	if errors.As(err, &de) != errors.As(wantErr, &wde) || (de != nil && (de.Key != wde.Key || de.Revision != wde.Revision)) {
		t.Fatalf("revision %d %v: error %#v, full decode %#v", o.rev, ops, de, wde)
	}
	if err != nil {
		return
	}
	// Flags compare with their names: the rollout buckets by them.
	if !cmp.Equal(v, want, cmp.AllowUnexported(Flag{})) {
		t.Fatalf("revision %d %v: value differs from the full decode (-incremental +full):\n%s", o.rev, ops, cmp.Diff(v, want, cmp.AllowUnexported(Flag{})))
	}
	snap := &Snapshot[T]{Value: v, Revision: o.rev, Generation: uint64(o.rev), prefix: "/app/", kvs: next}
	if inc {
		o.inc++
		if delta != nil {
			snap.delta, snap.deltaFrom = changesOf(delta), o.prev.Generation
		} else if !codec.HasValidate[T]() {
			t.Fatalf("revision %d %v: applied incrementally with no delta", o.rev, ops)
		}
	}
	got := changes(o.d, o.prev, snap)
	full := diffSnapshots(o.prev, &Snapshot[T]{Value: want, Revision: o.rev, prefix: "/app/", kvs: next})
	if !cmp.Equal(got, full, cmp.AllowUnexported(Change{}, Flag{})) {
		t.Fatalf("revision %d %v: changes differ from the full diff (-incremental +full):\n%s", o.rev, ops, cmp.Diff(got, full, cmp.AllowUnexported(Change{}, Flag{})))
	}
	o.prev = snap
	o.catchUp(t, snap, want)
}

// next returns the keys after ops, at the next revision.
func (o *oracle[T]) next(ops []oracleOp) *codec.KeySet {
	o.rev++
	next := o.kvs.Clone()
	for _, op := range ops {
		if op.value == nil {
			next.Delete(op.path)
		} else {
			next.Set(&codec.KeyValue{Key: op.path, Value: *op.value, ModRevision: o.rev})
		}
	}
	return next
}

// advance applies ops as the watcher does (decoder.next) and publishes
// the result, without step's checks against the full decode: for tests
// that compare runs with one another, which step has checked.
func (o *oracle[T]) advance(t testing.TB, ops []oracleOp) {
	t.Helper()
	next := o.next(ops)
	v, delta, inc, err := o.d.Next(o.prev.decoded(), next, o.rev)
	if err != nil {
		t.Fatalf("revision %d %v: %v", o.rev, ops, err)
	}
	snap := &Snapshot[T]{Value: v, Revision: o.rev, Generation: uint64(o.rev), prefix: "/app/", kvs: next}
	if inc && delta != nil {
		snap.delta, snap.deltaFrom = changesOf(delta), o.prev.Generation
	}
	o.kvs, o.prev = next, snap
}

// catchUp diffs snap against an earlier published snapshot, as a
// subscriber that fell behind gets it, and fails unless the changes equal
// the full diff of the two values.
func (o *oracle[T]) catchUp(t testing.TB, snap *Snapshot[T], want T) {
	t.Helper()
	o.history = append(o.history, snap)
	if o.frozen == nil {
		o.frozen = map[*Snapshot[T]]T{}
	}
	o.frozen[snap] = codec.DeepCopy(reflect.ValueOf(snap.Value)).Interface().(T)
	if len(o.history) > 16 {
		delete(o.frozen, o.history[0])
		o.history = o.history[1:]
	}
	// A published value is never changed after: not by the next apply,
	// which may change the spare copy makeSpares made of it.
	for _, h := range o.history {
		if !cmp.Equal(h.Value, o.frozen[h], cmp.AllowUnexported(Flag{})) {
			t.Fatalf("revision %d's published value changed after publication (-now +published):\n%s",
				h.Revision, cmp.Diff(h.Value, o.frozen[h], cmp.AllowUnexported(Flag{})))
		}
	}
	if o.pick == nil || len(o.history) < 2 {
		return
	}
	base := o.history[o.pick(len(o.history)-1)]
	cs, ok := o.d.Between(base.decoded(), snap.decoded(), snap.Revision)
	got := changesOf(cs)
	if !ok {
		return
	}
	o.between++
	full := diffSnapshots(base, &Snapshot[T]{Value: want, Revision: snap.Revision, prefix: "/app/", kvs: snap.kvs})
	if !cmp.Equal(got, full, cmp.AllowUnexported(Change{}, Flag{})) {
		t.Fatalf("revisions %d to %d: catch-up changes differ from the full diff (-between +full):\n%s",
			base.Revision, snap.Revision, cmp.Diff(got, full, cmp.AllowUnexported(Change{}, Flag{})))
	}
}

func (o oracleOp) String() string {
	if o.value == nil {
		return "delete " + o.path
	}
	return fmt.Sprintf("put %s=%q", o.path, *o.value)
}

// oracleRun applies steps random transactions of 1-4 operations.
func oracleRun[T any](t testing.TB, g oracleGen, steps int) *oracle[T] {
	o := newOracle[T](t)
	o.pick = g.next
	for range steps {
		g.keys = func() []string {
			var out []string
			for kv := range o.kvs.All() {
				out = append(out, kv.Key)
			}
			return out
		}
		ops := make([]oracleOp, 1+g.next(4))
		for i := range ops {
			ops[i] = g.op()
		}
		o.step(t, ops)
	}
	return o
}

// TestOracleIncremental applies 2000 random transactions to each type both
// incrementally and by full decode; see oracle.step.
func TestOracleIncremental(t *testing.T) {
	// wantInc: the decode is incremental; wantBetween: so are the diffs,
	// which a Validate rules out (it may change what no key touched).
	run := func(name string, f func(*testing.T, oracleGen) (steps, inc, between int), wantInc, wantBetween bool) {
		t.Run(name, func(t *testing.T) {
			rng := rand.New(rand.NewPCG(11, 7))
			steps, inc, between := f(t, oracleGen{next: rng.IntN})
			t.Logf("%d transactions, %d applied incrementally, %d catch-up diffs from the changed keys", steps, inc, between)
			if wantInc && inc < steps/10 {
				t.Errorf("only %d of %d transactions took the incremental path", inc, steps)
			}
			if wantBetween && between < steps/10 {
				t.Errorf("only %d catch-ups of %d took the changed keys", between, steps)
			}
			if !wantBetween && between != 0 {
				t.Errorf("%d catch-ups took the changed keys; a Validate may change what no key touched", between)
			}
		})
	}
	const steps = 2000
	run("map[string]string", func(t *testing.T, g oracleGen) (int, int, int) {
		o := oracleRun[map[string]string](t, g, steps)
		return o.steps, o.inc, o.between
	}, true, true)
	run("map[string]Entry", func(t *testing.T, g oracleGen) (int, int, int) {
		o := oracleRun[map[string]oracleEntry](t, g, steps)
		return o.steps, o.inc, o.between
	}, true, true)
	run("registry", func(t *testing.T, g oracleGen) (int, int, int) {
		o := oracleRun[oracleRegistry](t, g, steps)
		return o.steps, o.inc, o.between
	}, true, false)
	run("registry without Validate", func(t *testing.T, g oracleGen) (int, int, int) {
		o := oracleRun[oraclePlainRegistry](t, g, steps)
		return o.steps, o.inc, o.between
	}, true, true)
	run("map[string]map[string]string", func(t *testing.T, g oracleGen) (int, int, int) {
		o := oracleRun[map[string]map[string]string](t, g, steps)
		return o.steps, o.inc, o.between
	}, true, true)
	run("map[string]*Instance", func(t *testing.T, g oracleGen) (int, int, int) {
		o := oracleRun[map[string]*oracleInstance](t, g, steps)
		return o.steps, o.inc, o.between
	}, true, true)
	run("struct", func(t *testing.T, g oracleGen) (int, int, int) {
		o := oracleRun[oracleStruct](t, g, steps)
		return o.steps, o.inc, o.between
	}, true, false)
	run("struct without Validate", func(t *testing.T, g oracleGen) (int, int, int) {
		o := oracleRun[oraclePlainStruct](t, g, steps)
		return o.steps, o.inc, o.between
	}, true, true)
	run("Map[string]Instance", func(t *testing.T, g oracleGen) (int, int, int) {
		o := oracleRun[oracleMapRegistry](t, g, steps)
		return o.steps, o.inc, o.between
	}, true, true)
	run("struct with Map fields", func(t *testing.T, g oracleGen) (int, int, int) {
		o := oracleRun[oracleMapStruct](t, g, steps)
		return o.steps, o.inc, o.between
	}, true, true)
	run("struct with Validate and a field no key feeds", func(t *testing.T, g oracleGen) (int, int, int) {
		o := oracleRun[oracleValidated](t, g, steps)
		if o.inc != 0 || o.between != 0 {
			t.Errorf("%d incremental applies, %d catch-ups; a Validate may derive the field no key feeds", o.inc, o.between)
		}
		return o.steps, o.inc, o.between
	}, false, false)
}

// TestIncrementalDeleteUncoversDocument is the case the oracle found in
// the flat view's former patch path: deleting a plain key that overrode a
// document's value must uncover the document's value, not remove the path.
func TestIncrementalDeleteUncoversDocument(t *testing.T) {
	put := func(path, value string) oracleOp { return oracleOp{path: path, value: &value} }
	o := newOracle[map[string]string](t)
	o.step(t, []oracleOp{put("b.yaml", "addr: h\n"), put("b/addr", "1")})
	o.step(t, []oracleOp{{path: "b/addr"}})
	if got := o.prev.Value["b/addr"]; got != "h" {
		t.Errorf("b/addr = %q after deleting the plain key, want the document's h", got)
	}
	if o.inc != 2 {
		t.Errorf("%d of 2 batches applied incrementally", o.inc)
	}
}

// FuzzOracleIncremental drives the oracle from random bytes: each byte
// chooses among the generator's alternatives.
func FuzzOracleIncremental(f *testing.F) {
	f.Add([]byte{0, 1, 2, 3, 4, 5, 6, 7, 8, 9})
	f.Add([]byte("api-1.yaml weight: -1 then a/weight"))
	f.Fuzz(func(t *testing.T, data []byte) {
		for _, run := range []func(oracleGen){
			func(g oracleGen) { oracleRun[oracleRegistry](t, g, len(data)/4) },
			func(g oracleGen) { oracleRun[map[string]oracleEntry](t, g, len(data)/4) },
			func(g oracleGen) { oracleRun[oracleStruct](t, g, len(data)/4) },
			func(g oracleGen) { oracleRun[oraclePlainStruct](t, g, len(data)/4) },
			func(g oracleGen) { oracleRun[oracleMapRegistry](t, g, len(data)/4) },
			func(g oracleGen) { oracleRun[oracleMapStruct](t, g, len(data)/4) },
		} {
			i := 0
			run(oracleGen{next: func(n int) int {
				if i >= len(data) {
					return 0
				}
				i++
				return int(data[i-1]) % n
			}})
		}
	})
}

// checkUpdates checks the updates waiting in ch against the full diff.
func checkUpdates[T any](t *testing.T, ch <-chan Event[T]) (updated int) {
	for {
		select {
		case u := <-ch:
			updated++
			full := diffSnapshots(u.Old, u.New)
			if !cmp.Equal(u.Changes, full, cmp.AllowUnexported(Change{})) {
				t.Fatalf("revision %d: update's changes differ from the full diff:\n%s", u.New.Revision, cmp.Diff(u.Changes, full, cmp.AllowUnexported(Change{})))
			}
		default:
			return updated
		}
	}
}

// TestOracleWatcher runs random transactions against real etcd through a
// Watcher of a registry: every revision must be applied without a reload,
// each published value must equal the full decode of its keys, and each
// subscriber update's Changes must equal the full diff.
func TestOracleWatcher(t *testing.T) {
	t.Run("registry", func(t *testing.T) { oracleWatcher[oracleRegistry](t, false) })
	t.Run("registry without Validate", func(t *testing.T) { oracleWatcher[oraclePlainRegistry](t, true) })
}

// oracleWatcher is TestOracleWatcher for a registry type T; wantDelta: the
// watcher diffs incrementally (T has no Validate).
func oracleWatcher[T ~map[string]oracleInstance](t *testing.T, wantDelta bool) {
	cli := etcdClient(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if _, err := cli.Put(ctx, "/app/seed/addr", "h"); err != nil {
		t.Fatal(err)
	}
	w, err := New[T](ctx, cli, "/app/")
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	updates := w.Subscribe(ctx)
	rng := rand.New(rand.NewPCG(3, 5))
	present := map[string]bool{"seed/addr": true} // etcd's keys, rejected or not
	g := oracleGen{next: rng.IntN, keys: func() []string { return slices.Sorted(maps.Keys(present)) }}
	last := w.Current()
	applied, updated, incremental := 0, 0, 0
	const txns = 500
	for range txns {
		ops := make([]clientv3.Op, 0, 4)
		seen := map[string]bool{} // etcd refuses a key twice in one transaction
		for range 1 + rng.IntN(4) {
			op := g.op()
			if seen[op.path] {
				continue
			}
			seen[op.path] = true
			present[op.path] = op.value != nil
			if !present[op.path] {
				delete(present, op.path)
			}
			if op.value == nil {
				ops = append(ops, clientv3.OpDelete("/app/"+op.path))
			} else {
				ops = append(ops, clientv3.OpPut("/app/"+op.path, *op.value))
			}
		}
		resp, err := cli.Txn(ctx).Then(ops...).Commit()
		if err != nil {
			t.Fatal(err)
		}
		snap, err := w.WaitRevision(ctx, resp.Header.Revision)
		var de *DecodeError
		if err != nil && !errors.As(err, &de) {
			t.Fatal(err)
		}
		if snap == last {
			continue // rejected
		}
		if snap.deltaFrom != 0 {
			incremental++
		}
		want, err := w.dec.DecodeSet(snap.kvs, snap.Revision)
		if err != nil {
			t.Fatalf("revision %d published, but its keys do not decode: %v", snap.Revision, err)
		}
		if !cmp.Equal(snap.Value, want) {
			t.Fatalf("revision %d: value differs from the full decode:\n%s", snap.Revision, cmp.Diff(snap.Value, want))
		}
		updated += checkUpdates(t, updates)
		last = snap
		applied++
	}
	updated += checkUpdates(t, updates)
	if updated == 0 {
		t.Error("no subscriber update")
	}
	if st := w.Status(); st.Reloads != 0 {
		t.Errorf("%d reloads, want none", st.Reloads)
	}
	if wantDelta && incremental == 0 {
		t.Error("no revision was applied incrementally")
	}
	if !wantDelta && incremental != 0 {
		t.Errorf("%d revisions published a delta; a Validate may change what no key touched", incremental)
	}
	t.Logf("%d transactions published (%d incrementally), %d rejected or no-ops; %d subscriber updates checked",
		applied, incremental, txns-applied, updated)
}

// entryOracle is an oracle over n entries svc-000000... of a map of
// Entry (a Go map or a Map), all "1" at revision 2, and their snapshot.
func entryOracle[T any](tb testing.TB, n int) (*oracle[T], *Snapshot[T]) {
	o := newOracle[T](tb)
	kvs := make(map[string]*codec.KeyValue, n)
	for i := range n {
		k := fmt.Sprintf("svc-%06d", i)
		kvs[k] = &codec.KeyValue{Key: k, Value: "1", ModRevision: 2}
	}
	o.kvs = codec.KeySetOf(kvs)
	v, err := o.d.DecodeSet(o.kvs, 2)
	if err != nil {
		tb.Fatal(err)
	}
	o.prev = &Snapshot[T]{Value: v, Revision: 2, prefix: "/app/", kvs: o.kvs}
	return o, o.prev
}

// BenchmarkIncremental measures decoder.next for one changed entry of a
// map of n entries, against the full decode of the same keys.
func BenchmarkIncremental(b *testing.B) {
	// mode: "full" decodes everything; "incremental" copies the map on
	// the change's path; "prepared" has the copy made first, as the watch
	// loop does while it waits (decoder.makeSpares), outside the timer.
	bench := func(b *testing.B, n int, mode string) {
		o, prev := entryOracle[map[string]oracleEntry](b, n)
		b.ReportAllocs()
		for i := 0; b.Loop(); i++ {
			if mode == "prepared" {
				b.StopTimer()
				o.d.MakeSpares(prev.decoded())
				b.StartTimer()
			}
			next := prev.kvs.Clone()
			k := fmt.Sprintf("svc-%06d", i%n)
			next.Set(&codec.KeyValue{Key: k, Value: strconv.Itoa(i), ModRevision: int64(3 + i)})
			if mode == "full" {
				if _, err := o.d.DecodeSet(next, int64(3+i)); err != nil {
					b.Fatal(err)
				}
				continue
			}
			v, _, inc, err := o.d.Next(prev.decoded(), next, int64(3+i))
			if err != nil || !inc {
				b.Fatal(inc, err)
			}
			prev = &Snapshot[map[string]oracleEntry]{Value: v, Revision: int64(3 + i), prefix: "/app/", kvs: next}
		}
	}
	for _, n := range []int{1000, 100000} {
		for _, mode := range []string{"incremental", "prepared", "full"} {
			if mode == "full" && n > 1000 {
				continue
			}
			b.Run(fmt.Sprintf("map[string]Entry/%d/%s", n, mode), func(b *testing.B) { bench(b, n, mode) })
		}
	}
}

// BenchmarkIncrementalStruct: one changed field of a 1000-field struct.
func BenchmarkIncrementalStruct(b *testing.B) {
	d, err := codec.NewDecoder[wide.Struct]("/app/", codec.Config{})
	if err != nil {
		b.Fatal(err)
	}
	m := map[string]*codec.KeyValue{}
	for i := range 1000 {
		k := fmt.Sprintf("f%d", i)
		m[k] = &codec.KeyValue{Key: k, Value: "7", ModRevision: 1}
	}
	kvs := codec.KeySetOf(m)
	v, err := d.DecodeSet(kvs, 1)
	if err != nil {
		b.Fatal(err)
	}
	prev := &Snapshot[wide.Struct]{Value: v, Revision: 1, prefix: "/app/", kvs: kvs}
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		next := kvs.Clone()
		k := fmt.Sprintf("f%d", i%1000)
		next.Set(&codec.KeyValue{Key: k, Value: strconv.Itoa(i), ModRevision: int64(i + 2)})
		if _, _, inc, err := d.Next(prev.decoded(), next, int64(i+2)); err != nil || !inc {
			b.Fatalf("incremental %v, %v", inc, err)
		}
	}
}

// BenchmarkCatchUp is a subscriber's diff over 10 revisions of a
// map[string]Entry, one changed entry each: from the changed keys
// (decoder.changes) against the full diff of the two values.
func BenchmarkCatchUp(b *testing.B) {
	for _, n := range []int{1000, 10000} {
		o, base := entryOracle[map[string]oracleEntry](b, n)
		for i := range 10 {
			val := strconv.Itoa(i + 2)
			o.step(b, []oracleOp{{path: fmt.Sprintf("svc-%06d", i*97%n), value: &val}})
		}
		latest := o.prev
		if cs := changes(o.d, base, latest); len(cs) != 20 {
			b.Fatalf("%d changes, want 20 (N and Text of 10 entries)", len(cs))
		}
		b.Run(fmt.Sprintf("%d/changed-keys", n), func(b *testing.B) {
			for b.Loop() {
				changes(o.d, base, latest)
			}
		})
		b.Run(fmt.Sprintf("%d/full", n), func(b *testing.B) {
			for b.Loop() {
				diffSnapshots(base, latest)
			}
		})
	}
}

// TestIncrementalStructMapField: a registry inside a struct is applied by
// its entries, exactly as the full decode fills it, including where that
// must not be done (a second spelling of the field, a document at the
// field itself), which takes the field whole.
func TestIncrementalStructMapField(t *testing.T) {
	put := func(path, value string) oracleOp { return oracleOp{path: path, value: &value} }
	for _, tc := range []struct {
		name  string
		setup []oracleOp
		op    oracleOp
	}{
		{"entry field", []oracleOp{put("services/a/addr", "h"), put("services/b/addr", "i")}, put("services/a/weight", "3")},
		{"entry document", []oracleOp{put("services/a/addr", "h"), put("services/a.yaml", "weight: 2\n")}, put("services/a.yaml", "weight: 5\n")},
		{"new entry", []oracleOp{put("services/a/addr", "h")}, put("services/b/addr", "j")},
		{"last entry removed", []oracleOp{put("services/a/addr", "h")}, oracleOp{path: "services/a/addr"}},
		{"second spelling", []oracleOp{put("services/a/addr", "h"), put("Services/a/weight", "4")}, put("services/a/addr", "k")},
		{"second spelling, the first in key order changed", []oracleOp{put("services/a/addr", "h"), put("Services/a/weight", "4")}, put("Services/a/weight", "5")},
		{"document at the field", []oracleOp{put("services/a/addr", "h"), put("services.yaml", "a:\n  weight: 6\n")}, put("services/a/addr", "k")},
		{"value at the field", []oracleOp{put("services/a/addr", "h"), put("services", "x")}, oracleOp{path: "services"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			o := newOracle[oracleStruct](t)
			o.step(t, tc.setup)
			o.d.MakeSpares(o.prev.decoded())
			o.step(t, []oracleOp{tc.op}) // fails unless value, error and changes are the full decode's
		})
	}
}

// BenchmarkIncrementalStructMap is one changed entry of a registry of n
// entries inside a struct, with the copy of the map made first as the
// watch loop does (prepared) or on the change's path; validate=true is the
// same struct with a Validate method, whose value is deep-copied before
// Validate runs (the cost of keeping Validate off published values).
func BenchmarkIncrementalStructMap(b *testing.B) {
	for _, n := range []int{1000, 10000} {
		for _, prepared := range []bool{false, true} {
			b.Run(fmt.Sprintf("%d/prepared=%v/validate=false", n, prepared), func(b *testing.B) {
				benchStructMap[oraclePlainStruct](b, n, prepared)
			})
			b.Run(fmt.Sprintf("%d/prepared=%v/validate=true", n, prepared), func(b *testing.B) {
				benchStructMap[oracleStruct](b, n, prepared)
			})
		}
	}
}

func benchStructMap[T any](b *testing.B, n int, prepared bool) {
	o := newOracle[T](b)
	m := map[string]*codec.KeyValue{}
	for i := range n {
		k := fmt.Sprintf("services/svc-%05d/addr", i)
		m[k] = &codec.KeyValue{Key: k, Value: "h", ModRevision: 2}
	}
	kvs := codec.KeySetOf(m)
	v, err := o.d.DecodeSet(kvs, 2)
	if err != nil {
		b.Fatal(err)
	}
	prev := &Snapshot[T]{Value: v, Revision: 2, prefix: "/app/", kvs: kvs}
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		if prepared {
			b.StopTimer()
			o.d.MakeSpares(prev.decoded())
			b.StartTimer()
		}
		next := prev.kvs.Clone()
		next.Set(&codec.KeyValue{Key: fmt.Sprintf("services/svc-%05d/weight", i%n), Value: strconv.Itoa(i + 1), ModRevision: int64(i + 3)})
		v, delta, inc, err := o.d.Next(prev.decoded(), next, int64(i+3))
		if err != nil || !inc || (delta == nil) != codec.HasValidate[T]() {
			b.Fatal(err, inc, delta)
		}
		prev = &Snapshot[T]{Value: v, Revision: int64(i + 3), prefix: "/app/", kvs: next}
	}
}

// TestLooseEqualIsNormName checks the scan's allocation-free comparison
// against normName over generated spellings: case, "-" and "_", non-ASCII.
func TestLooseEqualIsNormName(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	alphabet := []string{"a", "B", "-", "_", "z", "Ä", "ß", "1", "K", "k"} // "K" is the Kelvin sign
	gen := func() string {
		var b []byte
		for range rng.IntN(6) {
			b = append(b, alphabet[rng.IntN(len(alphabet))]...)
		}
		return string(b)
	}
	for range 20000 {
		seg, other := gen(), gen()
		for _, n := range []string{codec.NormName(seg), codec.NormName(other)} {
			if got, want := codec.LooseEqual(seg, n), codec.NormName(seg) == n; got != want {
				t.Fatalf("looseEqual(%q, %q) = %v, normName gives %v", seg, n, got, want)
			}
		}
	}
}
