package etcdconf

import (
	"context"
	"fmt"
	"os"
	"reflect"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/etcdconf/etcdconf/internal/codec"
	"github.com/etcdconf/etcdconf/internal/wide"
)

func BenchmarkCurrent(b *testing.B) {
	w := &Watcher[map[string]string]{}
	w.cur.Store(&Snapshot[map[string]string]{Revision: 1})
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if w.Current().Revision != 1 {
				b.Fatal("wrong snapshot")
			}
		}
	})
}

func BenchmarkDecode(b *testing.B) {
	flat := map[string]*codec.KeyValue{}
	for i := range 1000 {
		k := fmt.Sprintf("k%04d", i)
		flat[k] = &codec.KeyValue{Key: k, Value: "value"}
	}
	b.Run("1000 keys into map[string]string", func(b *testing.B) {
		d, _ := codec.NewDecoder[map[string]string]("/app/", codec.Config{})
		b.ReportAllocs()
		for b.Loop() {
			if _, err := d.Decode(flat, 1); err != nil {
				b.Fatal(err)
			}
		}
	})
	wideKVs := map[string]*codec.KeyValue{}
	for i := range 1000 {
		k := fmt.Sprintf("f%d", i)
		wideKVs[k] = &codec.KeyValue{Key: k, Value: "7"}
	}
	b.Run("1000-field struct", func(b *testing.B) {
		d, _ := codec.NewDecoder[wide.Struct]("/app/", codec.Config{})
		b.ReportAllocs()
		for b.Loop() {
			if _, err := d.Decode(wideKVs, 1); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// BenchmarkSnapshotFile measures the snapshot file: a write of 10k keys
// (encode, fsync, rename, fsync the directory), a start from it (read,
// check, decode into map[string]string: what New does once etcd's load
// timeout has passed), and the writes a burst of 1000 puts costs.
func BenchmarkSnapshotFile(b *testing.B) {
	const keys = 10000
	s := fileSnapshot{prefix: "/app/", rev: 2 * keys, written: time.Now(), kvs: codec.NewKeySet()}
	for i := range keys {
		k := fmt.Sprintf("service-%05d/endpoint", i)
		s.kvs.Set(&codec.KeyValue{Key: k, Value: "10.0.0.1:8080", CreateRevision: int64(i + 1), ModRevision: int64(keys + i + 1), Version: 2})
	}
	f := &snapshotFile{path: b.TempDir() + "/snap.json"}
	b.Run("write 10k keys", func(b *testing.B) {
		for b.Loop() {
			if err := f.write(s); err != nil {
				b.Fatal(err)
			}
		}
		fi, err := os.Stat(f.path)
		if err != nil {
			b.Fatal(err)
		}
		b.ReportMetric(float64(fi.Size())/keys, "file-bytes/key")
	})
	b.Run("start from file 10k keys", func(b *testing.B) {
		dec, err := codec.NewDecoder[map[string]string]("/app/", codec.Config{})
		if err != nil {
			b.Fatal(err)
		}
		for b.Loop() {
			fs, err := f.read("/app/")
			if err != nil {
				b.Fatal(err)
			}
			if _, err := dec.DecodeSet(fs.kvs, fs.rev); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("burst of 1000 puts", func(b *testing.B) {
		cli := etcdClient(b)
		ctx := context.Background()
		var writes atomic.Int64
		count := optionFunc(func(o *options) {
			o.beforeRename = func(string) error { writes.Add(1); return nil }
		})
		w, err := New[map[string]string](ctx, cli, "/burst/", WithSnapshotFile(b.TempDir()+"/snap.json"), count)
		if err != nil {
			b.Fatal(err)
		}
		defer w.Close()
		var applied, elapsed time.Duration
		writes.Store(0)
		for b.Loop() {
			start := time.Now()
			var last int64
			for i := range 1000 {
				resp, err := cli.Put(ctx, fmt.Sprintf("/burst/k%d", i%100), fmt.Sprint(i))
				if err != nil {
					b.Fatal(err)
				}
				last = resp.Header.Revision
			}
			for w.Current().Revision < last {
				time.Sleep(time.Millisecond)
			}
			applied += time.Since(start)
		}
		elapsed = applied
		b.ReportMetric(float64(writes.Load())/float64(b.N), "file-writes/burst")
		b.ReportMetric(float64(writes.Load())/elapsed.Seconds(), "file-writes/s")
	})
}

// benchConfig is a service's configuration: a few settings and a registry.
type benchConfig struct {
	Name string
	DB   struct {
		Host     string
		Port     int
		MaxConns int `etcd:"max-conns"`
	}
	Timeout  time.Duration
	Services map[string]struct {
		Addr   string
		Weight int
	}
}

// BenchmarkLayeredChange measures what layers add to a one-key etcd change
// (the watch loop's merge and decode): a struct with a 1000-entry map, the
// change alternating one entry's weight; without layers, and with
// defaults, a file and the environment below and above etcd.
func BenchmarkLayeredChange(b *testing.B) {
	base := codec.NewKeySet()
	base.Set(&codec.KeyValue{Key: "name", Value: "api", ModRevision: 1})
	base.Set(&codec.KeyValue{Key: "db/host", Value: "db1", ModRevision: 1})
	for i := range 1000 {
		k := fmt.Sprintf("services/s%04d", i)
		base.Set(&codec.KeyValue{Key: k + "/addr", Value: "10.0.0.1:80", ModRevision: 1})
		base.Set(&codec.KeyValue{Key: k + "/weight", Value: "1", ModRevision: 1})
	}
	var def benchConfig
	def.DB.Port, def.DB.MaxConns, def.Timeout = 5432, 10, time.Second
	below, err := codec.DefaultLeaves(def)
	if err != nil {
		b.Fatal(err)
	}
	below["db/max-conns"] = codec.KeyValue{Key: "db/max-conns", Value: "20"}.WithOrigin("file /etc/app.yaml")
	env := map[string]*codec.KeyValue{"db/host": codec.KeyValue{Key: "db/host", Value: "db2"}.WithOrigin("env APP_DB_HOST")}
	for _, bc := range []struct {
		name   string
		layers *codec.Layers
	}{{"no layers", nil}, {"defaults, file, env", codec.NewLayers(reflect.TypeFor[benchConfig](), below, env)}} {
		b.Run(bc.name, func(b *testing.B) {
			d, err := codec.NewDecoder[benchConfig]("/app/", codec.Config{})
			if err != nil {
				b.Fatal(err)
			}
			merge := func(s *codec.KeySet) *codec.KeySet {
				if bc.layers == nil {
					return s
				}
				return bc.layers.Merge(s)
			}
			etcd := base
			keys := merge(etcd)
			v, err := d.DecodeSet(keys, 1)
			if err != nil {
				b.Fatal(err)
			}
			prev := codec.Decoded[benchConfig]{Value: v, Keys: keys}
			b.ReportAllocs()
			i := 0
			for b.Loop() {
				i++
				etcd = etcd.Clone()
				etcd.Set(&codec.KeyValue{Key: "services/s0500/weight", Value: fmt.Sprint(i % 2), ModRevision: int64(i + 1)})
				keys := merge(etcd)
				v, _, _, err := d.Next(prev, keys, int64(i+1))
				if err != nil {
					b.Fatal(err)
				}
				prev = codec.Decoded[benchConfig]{Value: v, Keys: keys}
			}
		})
	}
}

// BenchmarkFilePoll measures one check of a file layer that did not
// change (WithFileInterval's cost, once a second by default): open, read
// and hash a 4 KiB YAML file. A change then costs the parse and decode.
func BenchmarkFilePoll(b *testing.B) {
	path := b.TempDir() + "/base.yaml"
	var content []byte
	for i := 0; len(content) < 4096; i++ {
		content = fmt.Appendf(content, "key%03d: value %d\n", i, i)
	}
	if err := os.WriteFile(path, content, 0o644); err != nil {
		b.Fatal(err)
	}
	lay, err := newLayered[map[string]string](newOptions([]Option{WithFile(path)}))
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, changed := lay.poll(func(err error) { b.Fatal(err) }); changed {
			b.Fatal("an unchanged file read as changed")
		}
	}
}

// BenchmarkMapChange is one changed entry of a registry of n entries,
// back to back (no spare copy made between changes), through the codec's
// incremental apply: a Go map[string]Entry, copied per change, against a
// Map[string, Entry], changed by With on the previous version.
func BenchmarkMapChange(b *testing.B) {
	for _, n := range []int{1000, 100000} {
		b.Run(fmt.Sprintf("map[string]Entry/%d", n), func(b *testing.B) {
			o, prev := entryOracle[map[string]oracleEntry](b, n)
			benchChange(b, o.d, prev, entryKey(n))
		})
		b.Run(fmt.Sprintf("Map[string,Entry]/%d", n), func(b *testing.B) {
			o, prev := entryOracle[Map[string, oracleEntry]](b, n)
			benchChange(b, o.d, prev, entryKey(n))
		})
	}
}

// benchChange changes the key keyOf(i) in change i, back to back.
func benchChange[T any](b *testing.B, d *codec.Decoder[T], prev *Snapshot[T], keyOf func(i int) string) {
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		next := prev.kvs.Clone()
		k := keyOf(i)
		next.Set(&codec.KeyValue{Key: k, Value: strconv.Itoa(i), ModRevision: int64(3 + i)})
		v, _, inc, err := d.Next(prev.decoded(), next, int64(3+i))
		if err != nil || !inc {
			b.Fatal(inc, err)
		}
		prev = &Snapshot[T]{Value: v, Revision: int64(3 + i), prefix: "/app/", kvs: next}
	}
}

type benchInstance struct {
	Addr string
	Port int
}

// BenchmarkRegistryFieldChange is one changed key of a registry of 10 000
// entries (two keys each) held in a struct field, back to back, through
// the codec's incremental apply: a Go map field, copied per change,
// against a Map field, changed by With.
func BenchmarkRegistryFieldChange(b *testing.B) {
	type goApp struct {
		Name     string
		Services map[string]benchInstance
	}
	type mapApp struct {
		Name     string
		Services Map[string, benchInstance]
	}
	b.Run("map", func(b *testing.B) { benchRegistryField[goApp](b, 10000) })
	b.Run("Map", func(b *testing.B) { benchRegistryField[mapApp](b, 10000) })
}

func benchRegistryField[T any](b *testing.B, n int) {
	d, err := codec.NewDecoder[T]("/app/", codec.Config{})
	if err != nil {
		b.Fatal(err)
	}
	kvs := make(map[string]*codec.KeyValue, 2*n+1)
	kvs["name"] = &codec.KeyValue{Key: "name", Value: "app", ModRevision: 2}
	for i := range n {
		for _, f := range [][2]string{{"addr", "127.0.0.1"}, {"port", strconv.Itoa(1024 + i)}} {
			k := fmt.Sprintf("services/svc-%05d/%s", i, f[0])
			kvs[k] = &codec.KeyValue{Key: k, Value: f[1], ModRevision: 2}
		}
	}
	set := codec.KeySetOf(kvs)
	v, err := d.DecodeSet(set, 2)
	if err != nil {
		b.Fatal(err)
	}
	benchChange(b, d, &Snapshot[T]{Value: v, Revision: 2, prefix: "/app/", kvs: set}, func(i int) string {
		return fmt.Sprintf("services/svc-%05d/port", i*7919%n)
	})
}

// entryKey is the key of the entry change i changes, of n.
func entryKey(n int) func(i int) string {
	return func(i int) string { return fmt.Sprintf("svc-%06d", i*7919%n) }
}
