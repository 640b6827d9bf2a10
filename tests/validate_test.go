package etcdconf_test

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/etcdconf/etcdconf"
	"github.com/etcdconf/etcdconf/etcdtest"
)

// normalized's Validate normalises in place, as users write it: it lowers
// every tag and derives one from another field.
type normalized struct {
	Name string
	Tags map[string]string
}

func (c *normalized) Validate() error {
	for k, v := range c.Tags {
		c.Tags[k] = strings.ToLower(v)
	}
	if c.Tags != nil {
		c.Tags["name"] = strings.ToLower(c.Name)
	}
	return nil
}

// TestValidateNeverTouchesAPublishedValue: Validate gets a value that owns
// everything it can reach. Before, a change to Name shared the published
// Tags map with the value Validate normalised, so Validate wrote into a
// published snapshot (the old one changed after publication, and a reader
// ranging over Tags crashed the process under load).
func TestValidateNeverTouchesAPublishedValue(t *testing.T) {
	srv := etcdtest.Start(t)
	cli := srv.Client(t)
	put(t, cli, "/norm/name", "First", "/norm/tags/a", "X", "/norm/tags/b", "Y")
	w := newWatcher[normalized](t, cli, "/norm/")
	first := w.Current()
	kept := maps.Clone(first.Value.Tags)
	if kept["name"] != "first" || kept["a"] != "x" {
		t.Fatalf("initial value %+v", first.Value)
	}

	// Readers range over the published Tags while Name changes.
	ctx, cancel := context.WithCancel(context.Background())
	var readers sync.WaitGroup
	for range 2 {
		readers.Add(1)
		go func() {
			defer readers.Done()
			for ctx.Err() == nil {
				for k, v := range w.Current().Value.Tags {
					_, _ = k, v
				}
			}
		}()
	}
	var rev int64
	for i := range 50 {
		rev = put(t, cli, "/norm/name", fmt.Sprintf("Name%d", i))
	}
	s, err := w.WaitRevision(ctx, rev)
	cancel()
	readers.Wait()
	if err != nil {
		t.Fatal(err)
	}
	if s.Value.Tags["name"] != "name49" {
		t.Fatalf("latest value %+v, want Tags[name] = name49", s.Value)
	}
	if !maps.Equal(first.Value.Tags, kept) {
		t.Fatalf("the first snapshot changed after publication: Tags %v, was %v", first.Value.Tags, kept)
	}
}

// checkedFleet's Validate writes through the pointers its Map holds, as
// users write normalisation: it lowers each address and counts the checks.
type checkedFleet struct {
	Name     string
	Services etcdconf.Map[string, *checkedService]
}

type checkedService struct {
	Addr   string
	Checks int
}

func (c *checkedFleet) Validate() error {
	for _, s := range c.Services.All() {
		s.Addr = strings.ToLower(s.Addr)
		s.Checks++
	}
	return nil
}

// TestValidateNeverTouchesAPublishedMapEntry: a Map shares its entries
// between versions, so the copy Validate gets must not share what they
// point at. Before, Validate wrote into every snapshot published before
// (the first snapshot's service counted 50 checks, not 1, after 50 changes of
// Name), and Update's function could do the same.
func TestValidateNeverTouchesAPublishedMapEntry(t *testing.T) {
	srv := etcdtest.Start(t)
	cli := srv.Client(t)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	put(t, cli, "/chk/name", "a", "/chk/services/api/addr", "API:80", "/chk/services/db/addr", "DB:5432")
	w := newWatcher[checkedFleet](t, cli, "/chk/")
	first := w.Current()
	api, _ := first.Value.Services.Get("api")
	if api.Addr != "api:80" || api.Checks != 1 {
		t.Fatalf("initial entry %+v, want api:80 checked once", *api)
	}
	var rev int64
	for i := range 50 {
		rev = put(t, cli, "/chk/name", fmt.Sprintf("n%d", i))
	}
	s, err := w.WaitRevision(ctx, rev)
	if err != nil {
		t.Fatal(err)
	}
	if got, _ := s.Value.Services.Get("api"); got.Addr != "api:80" || got.Checks < 2 {
		t.Fatalf("latest entry %+v, want api:80 checked again", *got)
	}
	if api.Addr != "api:80" || api.Checks != 1 {
		t.Fatalf("the first snapshot's entry changed after publication: %+v", *api)
	}

}

// TestUpdateNeverTouchesAPublishedMapEntry: Update's function gets a copy
// of the value that owns what its Map's entries point at, as it owns a Go
// map's. Before, changing an entry through its pointer changed the
// published snapshot.
func TestUpdateNeverTouchesAPublishedMapEntry(t *testing.T) {
	type fleet struct {
		Services etcdconf.Map[string, *checkedService]
	}
	srv := etcdtest.Start(t)
	cli := srv.Client(t)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	put(t, cli, "/upd/services/api/addr", "api:80", "/upd/services/db/addr", "db:5432")
	w := newWatcher[fleet](t, cli, "/upd/")
	before := w.Current()
	db, _ := before.Value.Services.Get("db")
	kept := *db
	s, err := w.Update(ctx, func(c *fleet) error {
		db, _ := c.Services.Get("db")
		db.Addr = "db:6432"
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if *db != kept {
		t.Fatalf("Update's function changed a published entry: %+v, was %+v", *db, kept)
	}
	if got, _ := s.Value.Services.Get("db"); got.Addr != "db:6432" || s.Revision <= before.Revision {
		t.Fatalf("after Update: %+v at revision %d (was %d)", *got, s.Revision, before.Revision)
	}
}

// defaultPort fills in a port that no key sets.
type defaultPort struct {
	Port int
	Host string
}

func (c *defaultPort) Validate() error {
	if c.Port == 0 {
		c.Port = 80
	}
	return nil
}

// derivedPattern derives a compiled pattern, a field no key feeds.
type derivedPattern struct {
	Pattern  string
	Compiled *regexp.Regexp `etcd:"-"`
}

func (c *derivedPattern) Validate() error {
	re, err := regexp.Compile(c.Pattern)
	c.Compiled = re
	return err
}

// TestChangesDescribeWhatValidatePublished: an event's changes are the
// difference between the published values, Validate's work included, and
// fields tagged `etcd:"-"` are not among them. Before, deleting port was
// reported as Port: 8080 -> 0 while the new value held 80, and a derived
// field appeared as a change of its own.
func TestChangesDescribeWhatValidatePublished(t *testing.T) {
	srv := etcdtest.Start(t)
	cli := srv.Client(t)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()

	put(t, cli, "/dflt/port", "8080", "/dflt/host", "a")
	w := newWatcher[defaultPort](t, cli, "/dflt/")
	events := w.Subscribe(ctx)
	del(t, cli, "/dflt/port")
	ev := <-events
	if ev.New.Value.Port != 80 {
		t.Fatalf("new value %+v, want Validate's port 80", ev.New.Value)
	}
	if got := fmt.Sprint(ev.Changes); got != "[Port: 8080 -> 80]" {
		t.Fatalf("changes %s, want [Port: 8080 -> 80]", got)
	}
	put(t, cli, "/dflt/host", "b")
	if ev := <-events; fmt.Sprint(ev.Changes) != `[Host: "a" -> "b"]` || ev.New.Value.Port != 80 {
		t.Fatalf("event %+v, want Host changed and Port 80", ev)
	}

	put(t, cli, "/pat/pattern", "^a")
	wp := newWatcher[derivedPattern](t, cli, "/pat/")
	pevents := wp.Subscribe(ctx)
	put(t, cli, "/pat/pattern", "^b")
	pev := <-pevents
	if got := fmt.Sprint(pev.Changes); got != `[Pattern: "^a" -> "^b"]` {
		t.Fatalf("changes %s, want only Pattern (Compiled is etcd:\"-\")", got)
	}
	if !pev.New.Value.Compiled.MatchString("b") {
		t.Fatalf("Compiled %v not derived from ^b", pev.New.Value.Compiled)
	}
}

// slowValid's Validate takes 200 ms and counts its calls.
type slowValid struct {
	N int
	M map[string]int
}

var slowCalls atomic.Int64

func (c *slowValid) Validate() error {
	slowCalls.Add(1)
	time.Sleep(200 * time.Millisecond)
	return nil
}

// TestBurstIsAppliedInFewBatches: when applying is slower than the writes,
// everything that arrived meanwhile is applied as one snapshot, so a burst
// of 100 puts pays Validate's cost a few times, not once per revision.
// Before, clientv3's one-response-per-send channel made it about 51 calls
// (10 s of lag at 200 ms each).
func TestBurstIsAppliedInFewBatches(t *testing.T) {
	srv := etcdtest.Start(t)
	cli := srv.Client(t)
	put(t, cli, "/burst/n", "0")
	w := newWatcher[slowValid](t, cli, "/burst/")
	slowCalls.Store(0)
	start := time.Now()
	// Four writers, so the burst outruns Validate even on a busy machine.
	var mu sync.Mutex
	var rev int64
	var writers sync.WaitGroup
	for g := range 4 {
		writers.Add(1)
		go func() {
			defer writers.Done()
			for i := range 25 {
				r := put(t, cli, fmt.Sprintf("/burst/m%d", g), fmt.Sprint(i))
				mu.Lock()
				rev = max(rev, r)
				mu.Unlock()
			}
		}()
	}
	writers.Wait()
	put(t, cli, "/burst/n", "100")
	s := waitFor(t, w, "the burst applied", func(s *etcdconf.Snapshot[slowValid]) bool { return s.Value.N == 100 })
	calls := slowCalls.Load()
	t.Logf("101 puts: %d Validate calls, caught up %v after the first put", calls, time.Since(start))
	if s.Revision <= rev || calls > 20 {
		t.Fatalf("Validate ran %d times for a burst of 101 puts (revision %d after %d); want the burst coalesced (at most 20)", calls, s.Revision, rev)
	}
	if st := w.Status(); st.Reloads != 0 || st.Err != nil || !st.Connected {
		t.Fatalf("status after the burst: %+v", st)
	}
}

// panicky's Validate panics on one value.
type panicky struct{ Port int }

func (c *panicky) Validate() error {
	if c.Port == 666 {
		panic("the devil's port")
	}
	return nil
}

// TestPanickingValidateIsErrInvalidEverywhere: Update, Set and the watch
// loop all turn a panic in Validate into an ErrInvalid error carrying the
// stack. Before, the panic escaped Update to its caller.
func TestPanickingValidateIsErrInvalidEverywhere(t *testing.T) {
	srv := etcdtest.Start(t)
	cli := srv.Client(t)
	put(t, cli, "/panic/port", "1")
	w := newWatcher[panicky](t, cli, "/panic/")
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()

	check := func(what string, err error) {
		t.Helper()
		if !errors.Is(err, etcdconf.ErrInvalid) || !strings.Contains(err.Error(), "panic in Validate: the devil's port") ||
			!strings.Contains(err.Error(), "goroutine ") {
			t.Fatalf("%s: %v; want ErrInvalid naming the panic, with the stack", what, err)
		}
	}
	func() {
		defer func() {
			if p := recover(); p != nil {
				t.Fatalf("the panic escaped Update: %v", p)
			}
		}()
		_, err := w.Update(ctx, func(c *panicky) error { c.Port = 666; return nil })
		check("Update", err)
	}()
	_, err := w.Set(ctx, "Port", 666)
	check("Set", err)

	rev := put(t, cli, "/panic/port", "666")
	s, err := w.WaitRevision(ctx, rev)
	check("the watch loop", err)
	if s.Value.Port != 1 {
		t.Fatalf("the last good value was replaced: %+v", s.Value)
	}
}

// BenchmarkSlowValidateLag writes at a steady 20 writes/s for 6 s against a
// watcher whose Validate takes 200 ms (slower than the writes), and
// reports how far behind etcd the watcher fell at worst (max-lag-revs),
// how long after the last write it caught up (catchup-ms), and Validate
// calls per write. Run with -benchtime 1x.
func BenchmarkSlowValidateLag(b *testing.B) {
	srv := etcdtest.Start(b)
	cli := srv.Client(b)
	put := func(kvs ...string) int64 {
		resp, err := cli.Put(context.Background(), kvs[0], kvs[1])
		if err != nil {
			b.Fatal(err)
		}
		return resp.Header.Revision
	}
	put("/lag/n", "0")
	for range b.N {
		w, err := etcdconf.New[slowValid](context.Background(), cli, "/lag/")
		if err != nil {
			b.Fatal(err)
		}
		slowCalls.Store(0)
		const writes = 120
		maxLag := int64(0)
		var last int64
		tick := time.NewTicker(50 * time.Millisecond)
		for i := 1; i <= writes; i++ {
			<-tick.C
			last = put("/lag/n", fmt.Sprint(i))
			maxLag = max(maxLag, last-w.Current().Revision)
		}
		tick.Stop()
		done := time.Now()
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		if _, err := w.WaitRevision(ctx, last); err != nil {
			b.Fatal(err)
		}
		cancel()
		b.ReportMetric(float64(maxLag), "max-lag-revs")
		b.ReportMetric(float64(time.Since(done).Milliseconds()), "catchup-ms")
		b.ReportMetric(float64(slowCalls.Load())/writes, "validates/write")
		w.Close()
	}
}
