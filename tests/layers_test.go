package etcdconf_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/etcdconf/etcdconf"
	"github.com/etcdconf/etcdconf/etcdtest"
)

type layerConfig struct {
	DB struct {
		Host string
		Port int
	}
	MaxConns int `etcd:"max-conns"`
	Labels   map[string]string
	Hosts    []string
}

func writeFile(t *testing.T, path, content string) {
	t.Helper()
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, path); err != nil { // whole, as a deploy tool writes it
		t.Fatal(err)
	}
}

// Each precedence pair, in both directions: the higher layer set, then
// removed, and the lower layer's value back, published as a change.
func TestLayersPrecedence(t *testing.T) {
	srv := etcdtest.Start(t)
	cli := srv.Client(t)
	dir := t.TempDir()
	base := filepath.Join(dir, "base.yaml")
	over := filepath.Join(dir, "over.json")
	writeFile(t, base, "db:\n  host: filehost\n  port: 2\nmax_conns: 5\nlabels:\n  a: file\nhosts: [a, b, c]\n")
	writeFile(t, over, `{"db": {"port": 3}}`)
	t.Setenv("LAYT_DB_HOST", "envhost")

	var def layerConfig
	def.DB.Port, def.MaxConns = 1, 1
	def.Labels = map[string]string{"d": "default"}
	w := newWatcher[layerConfig](t, cli, "/app/", etcdconf.WithDefaults(def), etcdconf.WithFile(base),
		etcdconf.WithFile(over), etcdconf.WithEnv("LAYT"), etcdconf.WithFileInterval(10*time.Millisecond))
	s := w.Current()
	v := s.Value
	if v.DB.Host != "envhost" || v.DB.Port != 3 || v.MaxConns != 5 || !slices.Equal(v.Hosts, []string{"a", "b", "c"}) ||
		v.Labels["a"] != "file" || v.Labels["d"] != "default" || len(v.Labels) != 2 {
		t.Fatalf("merged %+v", v)
	}
	for path, want := range map[string]string{
		"DB.Host": "env LAYT_DB_HOST", "DB.Port": "file " + over, "MaxConns": "file " + base,
		`Labels["d"]`: "default", `Labels["a"]`: "file " + base, "Hosts": "file " + base, "DB": "", "Nope": "",
	} {
		if got := s.Source(path); got != want {
			t.Errorf("Source(%q) = %q, want %q", path, got, want)
		}
	}
	events := w.Subscribe(t.Context())

	// etcd over the files, by leaf and not by spelling; maps merge; a list is one leaf.
	rev := put(t, cli, "/app/db/port", "4", "/app/max_conns", "6", "/app/labels/b", "etcd", "/app/hosts", "q")
	ev := next(t, events)
	v = ev.New.Value
	if ev.New.Revision != rev || v.DB.Port != 4 || v.MaxConns != 6 || !slices.Equal(v.Hosts, []string{"q"}) || len(v.Labels) != 3 {
		t.Fatalf("after etcd writes: %+v at %d", v, ev.New.Revision)
	}
	if got, want := ev.New.Source("DB.Port"), "etcd /app/db/port@"; !strings.HasPrefix(got, want) {
		t.Fatalf("Source(DB.Port) = %q, want %s…", got, want)
	}

	// etcd's value deleted: the file's comes back at once, and the change names both.
	rev = del(t, cli, "/app/db/port")
	ev = next(t, events)
	if ev.New.Revision != rev || ev.New.Value.DB.Port != 3 {
		t.Fatalf("after the delete: port %d at %d", ev.New.Value.DB.Port, ev.New.Revision)
	}
	if c := changeAt(t, ev.Changes, "DB.Port"); !slices.Equal(c.Keys, []string{"/app/db/port", "file " + over}) {
		t.Fatalf("change keys %q", c.Keys)
	}

	// The later file removed: the earlier one's port; a file change keeps etcd's revision.
	gen := ev.New.Generation
	writeFile(t, over, `{}`)
	ev = next(t, events)
	if ev.New.Value.DB.Port != 2 || ev.New.Revision != rev || ev.New.Generation <= gen {
		t.Fatalf("after the file change: port %d at %d generation %d (was %d)", ev.New.Value.DB.Port, ev.New.Revision, ev.New.Generation, gen)
	}
	// The file's port removed too: the default.
	writeFile(t, base, "db:\n  host: filehost\nmax_conns: 5\n")
	ev = next(t, events)
	if ev.New.Value.DB.Port != 1 || ev.New.Source("DB.Port") != "default" {
		t.Fatalf("after the files: port %d from %q", ev.New.Value.DB.Port, ev.New.Source("DB.Port"))
	}

	// An etcd change to what the environment sets publishes nothing for it.
	put(t, cli, "/app/db/host", "etcdhost")
	rev = put(t, cli, "/app/labels/c", "marker")
	for {
		ev = next(t, events)
		for _, c := range ev.Changes {
			if c.Path == "DB.Host" {
				t.Fatalf("a shadowed field changed: %+v", c)
			}
		}
		if ev.New.Revision >= rev {
			break
		}
	}
	if ev.New.Value.DB.Host != "envhost" || ev.New.Source("DB.Host") != "env LAYT_DB_HOST" {
		t.Fatalf("host %q from %q", ev.New.Value.DB.Host, ev.New.Source("DB.Host"))
	}
	if st := w.Status(); st.Err != nil || st.Rejections != 0 {
		t.Fatalf("status %+v", st)
	}

	// Writes: refused where the environment wins; a file's value written to etcd as a new key.
	ctx := context.Background()
	if _, err := w.Set(ctx, "DB.Host", "x"); err == nil || !strings.Contains(err.Error(), "LAYT_DB_HOST") {
		t.Fatalf("Set of an env field: %v", err)
	}
	if _, err := w.Update(ctx, func(c *layerConfig) error { c.DB.Host = "y"; return nil }); err == nil || !strings.Contains(err.Error(), "LAYT_DB_HOST") {
		t.Fatalf("Update of an env field: %v", err)
	}
	s, err := w.Update(ctx, func(c *layerConfig) error { c.DB.Port = 9; return nil })
	if err != nil || s.Value.DB.Port != 9 || !strings.HasPrefix(s.Source("DB.Port"), "etcd /app/db/port@") {
		t.Fatalf("Update of a default: %v, %+v", err, s)
	}
	if _, err := w.Update(ctx, func(c *layerConfig) error { delete(c.Labels, "d"); return nil }); err == nil || !strings.Contains(err.Error(), "default") {
		t.Fatalf("Update removing a default entry: %v", err)
	}
}

func next[T any](t *testing.T, events <-chan etcdconf.Event[T]) etcdconf.Event[T] {
	t.Helper()
	select {
	case ev := <-events:
		return ev
	case <-time.After(15 * time.Second):
		t.Fatal("no event")
	}
	panic("unreachable")
}

func changeAt(t *testing.T, cs []etcdconf.Change, path string) etcdconf.Change {
	t.Helper()
	for _, c := range cs {
		if c.Path == path {
			return c
		}
	}
	t.Fatalf("no change at %s in %+v", path, cs)
	return etcdconf.Change{}
}

// A ConfigMap volume: files are links into ..data, which a new directory
// replaces by a rename. The swap is applied within the interval, a bad file
// keeps the last good value and says why, and a good one heals it.
func TestLayersConfigMapSwap(t *testing.T) {
	srv := etcdtest.Start(t)
	cli := srv.Client(t)
	vol := t.TempDir()
	version := 0
	swap := func(files map[string]string) {
		version++
		d := filepath.Join(vol, "..v"+string(rune('0'+version)))
		if err := os.Mkdir(d, 0o755); err != nil {
			t.Fatal(err)
		}
		for name, content := range files {
			if err := os.WriteFile(filepath.Join(d, name), []byte(content), 0o644); err != nil {
				t.Fatal(err)
			}
			link := filepath.Join(vol, name)
			if _, err := os.Lstat(link); err != nil {
				if err := os.Symlink(filepath.Join("..data", name), link); err != nil {
					t.Fatal(err)
				}
			}
		}
		tmp := filepath.Join(vol, "..data_tmp")
		if err := os.Symlink(filepath.Base(d), tmp); err != nil {
			t.Fatal(err)
		}
		if err := os.Rename(tmp, filepath.Join(vol, "..data")); err != nil {
			t.Fatal(err)
		}
	}
	swap(map[string]string{"config.yaml": "db: {host: one, port: 1}\n", "max-conns": "7"})
	errs := make(chan error, 10)
	w := newWatcher[layerConfig](t, cli, "/app/", etcdconf.WithFile(filepath.Join(vol, "config.yaml")), etcdconf.WithDir(vol),
		etcdconf.WithFileInterval(10*time.Millisecond), etcdconf.WithObserver(etcdconf.Observer{Error: func(err error) { errs <- err }}))
	if v := w.Current().Value; v.DB.Host != "one" || v.DB.Port != 1 || v.MaxConns != 7 {
		t.Fatalf("loaded %+v", v)
	}
	if got := w.Current().Source("MaxConns"); got != "file "+filepath.Join(vol, "max-conns") {
		t.Fatalf("Source(MaxConns) = %q", got)
	}
	swap(map[string]string{"config.yaml": "db: {host: two, port: 2}\n", "max-conns": "8"})
	s := waitFor(t, w, "the swap", func(s *etcdconf.Snapshot[layerConfig]) bool { return s.Value.DB.Host == "two" })
	if s.Value.DB.Port != 2 || s.Value.MaxConns != 8 {
		t.Fatalf("after the swap %+v", s.Value)
	}
	swap(map[string]string{"config.yaml": "db:\n  host: three\n  port: many\n", "max-conns": "8"})
	select {
	case err := <-errs:
		if !strings.Contains(err.Error(), filepath.Join(vol, "config.yaml")+":3") {
			t.Fatalf("error does not name the file and line: %v", err)
		}
	case <-time.After(15 * time.Second):
		t.Fatal("a bad file was not reported")
	}
	if v := w.Current().Value; v.DB.Host != "two" || w.Status().Err == nil {
		t.Fatalf("bad file: value %+v, status %+v", v, w.Status())
	}
	swap(map[string]string{"config.yaml": "db: {host: four, port: 4}\n", "max-conns": "8"})
	waitFor(t, w, "healed", func(s *etcdconf.Snapshot[layerConfig]) bool { return s.Value.DB.Host == "four" })
}

func TestLayersErrorsAtNew(t *testing.T) {
	srv := etcdtest.Start(t)
	cli := srv.Client(t)
	dir := t.TempDir()
	ctx := context.Background()
	missing := filepath.Join(dir, "missing.yaml")
	if _, err := etcdconf.New[layerConfig](ctx, cli, "/app/", etcdconf.WithFile(missing)); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("missing file: %v", err)
	}
	w, err := etcdconf.New[layerConfig](ctx, cli, "/app/", etcdconf.WithOptionalFile(missing))
	if err != nil {
		t.Fatalf("missing optional file: %v", err)
	}
	w.Close()
	if _, err := etcdconf.New[layerConfig](ctx, cli, "/app/", etcdconf.WithFile(filepath.Join(dir, "x.txt"))); err == nil {
		t.Fatal("a file name with no known extension was accepted")
	}
	t.Setenv("LAYE_DB_PORT", "not-a-number")
	if _, err := etcdconf.New[layerConfig](ctx, cli, "/app/", etcdconf.WithEnv("LAYE")); err == nil || !strings.Contains(err.Error(), "LAYE_DB_PORT") {
		t.Fatalf("a bad variable: %v", err)
	}
	t.Setenv("LAYE_DB_PORT", "1")
	t.Setenv("LAYE_TYPO", "1")
	if _, err := etcdconf.New[layerConfig](ctx, cli, "/app/", etcdconf.WithEnv("LAYE"), etcdconf.WithStrict()); err == nil || !strings.Contains(err.Error(), "LAYE_TYPO") {
		t.Fatalf("an unknown variable under WithStrict: %v", err)
	}
	type twice struct {
		DBPort int `etcd:"db-port"`
		DB     struct{ Port int }
	}
	if _, err := etcdconf.New[twice](ctx, cli, "/app/", etcdconf.WithEnv("LAYE")); err == nil || !strings.Contains(err.Error(), "DB.Port") || !strings.Contains(err.Error(), "DBPort") {
		t.Fatalf("a variable meaning two fields: %v", err)
	}
}

// A file deleted after New is an error of its layer (its values stay); an
// optional file absent at New is read when it appears; a file that makes
// the merged value fail Validate is rejected, naming the file's change.
func TestLayersFileLifecycle(t *testing.T) {
	srv := etcdtest.Start(t)
	cli := srv.Client(t)
	dir := t.TempDir()
	base, opt := filepath.Join(dir, "base.yaml"), filepath.Join(dir, "opt.yaml")
	writeFile(t, base, "port: 1\n")
	errs := make(chan error, 10)
	w := newWatcher[validated](t, cli, "/app/", etcdconf.WithFile(base), etcdconf.WithOptionalFile(opt),
		etcdconf.WithFileInterval(10*time.Millisecond), etcdconf.WithObserver(etcdconf.Observer{Error: func(err error) { errs <- err }}))
	if p := w.Current().Value.Port; p != 1 {
		t.Fatalf("port %d", p)
	}
	writeFile(t, opt, "port: 2\n")
	waitFor(t, w, "the optional file", func(s *etcdconf.Snapshot[validated]) bool { return s.Value.Port == 2 })

	if err := os.Remove(base); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-errs:
		if !errors.Is(err, os.ErrNotExist) || !strings.Contains(err.Error(), base) {
			t.Fatalf("a deleted file: %v", err)
		}
	case <-time.After(15 * time.Second):
		t.Fatal("a deleted file was not reported")
	}
	if p := w.Current().Value.Port; p != 2 {
		t.Fatalf("port %d after the delete", p)
	}

	gen := w.Current().Generation
	writeFile(t, opt, "port: 70000\n") // decodes, fails Validate
	select {
	case err := <-errs:
		if !errors.Is(err, etcdconf.ErrInvalid) || !strings.Contains(err.Error(), "70000") {
			t.Fatalf("a file failing Validate: %v", err)
		}
	case <-time.After(15 * time.Second):
		t.Fatal("a file failing Validate was not reported")
	}
	if s := w.Current(); s.Value.Port != 2 || s.Generation != gen {
		t.Fatalf("after a rejected file: port %d generation %d (was %d)", s.Value.Port, s.Generation, gen)
	}
	writeFile(t, opt, "port: 3\n")
	waitFor(t, w, "the fixed file", func(s *etcdconf.Snapshot[validated]) bool { return s.Value.Port == 3 })

	// Load reads the layers once.
	snap, err := etcdconf.Load[validated](context.Background(), cli, "/app/", etcdconf.WithOptionalFile(opt))
	if err != nil || snap.Value.Port != 3 || snap.Source("Port") != "file "+opt {
		t.Fatalf("Load: %v %+v %q", err, snap, snap.Source("Port"))
	}
}

// A write to etcd cannot remove what a file also holds under etcd's key:
// removing etcd's entry brings the file's back. Update and Delete say so
// and write nothing; Set over it, and removing what only etcd holds, work.
func TestLayersWriteCannotRemoveWhatAFileHolds(t *testing.T) {
	srv := etcdtest.Start(t)
	cli := srv.Client(t)
	base := filepath.Join(t.TempDir(), "base.yaml")
	writeFile(t, base, "labels:\n  a: file\n")
	put(t, cli, "/app/labels/a", "etcd", "/app/labels/b", "etcd")
	w := newWatcher[layerConfig](t, cli, "/app/", etcdconf.WithFile(base))
	ctx := context.Background()
	rev := w.Current().Revision

	_, err := w.Update(ctx, func(c *layerConfig) error { delete(c.Labels, "a"); return nil })
	if err == nil || !strings.Contains(err.Error(), `Labels["a"]`) || !strings.Contains(err.Error(), base) {
		t.Fatalf("Update removing an entry the file also holds: %v", err)
	}
	if _, err := w.Delete(ctx, `Labels["a"]`); err == nil || !strings.Contains(err.Error(), base) {
		t.Fatalf("Delete of an entry the file also holds: %v", err)
	}
	if s := w.Current(); s.Revision != rev || s.Value.Labels["a"] != "etcd" {
		t.Fatalf("a refused write changed etcd: %+v at %d (was %d)", s.Value.Labels, s.Revision, rev)
	}
	s, err := w.Set(ctx, `Labels["a"]`, "etcd2")
	if err != nil || s.Value.Labels["a"] != "etcd2" {
		t.Fatalf("Set over the file's entry: %v", err)
	}
	s, err = w.Update(ctx, func(c *layerConfig) error { delete(c.Labels, "b"); return nil })
	if err != nil || len(s.Value.Labels) != 1 {
		t.Fatalf("Update removing an etcd-only entry: %v, %+v", err, s)
	}
	if _, err := w.Delete(ctx, `Labels["zz"]`); err != nil {
		t.Fatalf("Delete of an absent entry: %v", err)
	}
}

// TestLayersDeleteOfWhatOnlyALayerHolds: Delete of a value that only a
// file or the defaults hold is refused, naming where it comes from.
// Before, it returned the snapshot with the value still there and no
// error, as if it had deleted it.
func TestLayersDeleteOfWhatOnlyALayerHolds(t *testing.T) {
	srv := etcdtest.Start(t)
	cli := srv.Client(t)
	base := filepath.Join(t.TempDir(), "base.yaml")
	writeFile(t, base, "labels:\n  f: file\n")
	put(t, cli, "/app/labels/a", "etcd")
	w := newWatcher[layerConfig](t, cli, "/app/", etcdconf.WithFile(base),
		etcdconf.WithDefaults(layerConfig{Labels: map[string]string{"d": "default"}}))
	ctx := context.Background()
	rev := w.Current().Revision
	for path, from := range map[string]string{`Labels["f"]`: base, `Labels["d"]`: "WithDefaults"} {
		_, err := w.Delete(ctx, path)
		if err == nil || !strings.Contains(err.Error(), path) || !strings.Contains(err.Error(), from) {
			t.Errorf("Delete of %s, held only by %s: %v", path, from, err)
		}
	}
	if s := w.Current(); s.Revision != rev || s.Value.Labels["f"] != "file" || s.Value.Labels["d"] != "default" {
		t.Fatalf("refused deletes changed the value: %+v at %d (was %d)", s.Value.Labels, s.Revision, rev)
	}
	if s, err := w.Delete(ctx, `Labels["a"]`); err != nil || len(s.Value.Labels) != 2 {
		t.Fatalf("Delete of etcd's own entry beside them: %v, %+v", err, s)
	}
}
