package etcdconf

import (
	"errors"
	"fmt"
	"maps"
	"reflect"
	"strings"
	"testing"

	"github.com/etcdconf/etcdconf/internal/codec"
)

// decodeEvery decodes pairs n times and fails unless every run gives the
// same value or the same error text; it returns that result.
func decodeEvery[T any](t *testing.T, n int, o *options, pairs ...string) (T, error) {
	t.Helper()
	first, firstErr := decodeWith[T](t, o, pairs...)
	for range n - 1 {
		v, err := decodeWith[T](t, o, pairs...)
		if fmt.Sprint(err) != fmt.Sprint(firstErr) || !reflect.DeepEqual(v, first) {
			t.Fatalf("%q: decoded %+v, %v and then %+v, %v", pairs, first, firstErr, v, err)
		}
	}
	return first, firstErr
}

// wantBothKeys fails unless err is a *DecodeError at revision 42 whose
// text names both keys and says why.
func wantBothKeys(t *testing.T, err error, k1, k2, why string) {
	t.Helper()
	var de *DecodeError
	if !errors.As(err, &de) || de.Revision != 42 {
		t.Fatalf("got %v, want a *DecodeError at revision 42", err)
	}
	if msg := err.Error(); !strings.Contains(msg, k1) || !strings.Contains(msg, k2) || !strings.Contains(msg, why) {
		t.Fatalf("error %q does not name both %s and %s (%s)", msg, k1, k2, why)
	}
}

// Issue 10, defect 1: two spellings of one field merge their subtrees;
// two keys setting one leaf are an error naming both; map keys are exact.
func TestDecodeSpellingsOfOneFieldMerge(t *testing.T) {
	c, err := decodeEvery[fullConfig](t, 100, newOptions(nil), "db/host", "h", "DB/port", "1")
	if err != nil || c.DB.Host != "h" || c.DB.Port != 1 {
		t.Fatalf("keys: got %+v, %v; want host h and port 1", c.DB, err)
	}
	c, err = decodeEvery[fullConfig](t, 100, newOptions(nil), "db.yaml", "host: h\nPort: 2\n")
	if err != nil || c.DB.Host != "h" || c.DB.Port != 2 {
		t.Fatalf("document: got %+v, %v; want host h and port 2", c.DB, err)
	}
	c, err = decodeEvery[fullConfig](t, 100, newOptions(nil), "max-conns", "1", "Max_Conns/x", "2")
	wantBothKeys(t, err, "/app/max-conns", "/app/Max_Conns/x", "cannot hold both")

	_, err = decodeEvery[fullConfig](t, 100, newOptions(nil), "db/port", "1", "DB/Port", "2")
	wantBothKeys(t, err, "/app/db/port", "/app/DB/Port", "both set")
	_, err = decodeEvery[fullConfig](t, 100, newOptions(nil), "db.yaml", "port: 1\nPort: 2\n")
	wantBothKeys(t, err, `"db/port"`, `"db/Port"`, "both set")

	// A plain key overrides a document whatever the spelling of either.
	c, err = decodeEvery[fullConfig](t, 100, newOptions(nil), "db.yaml", "port: 1\nhost: h\n", "DB/Port", "2")
	if err != nil || c.DB.Host != "h" || c.DB.Port != 2 {
		t.Fatalf("key over document: got %+v, %v", c.DB, err)
	}

	c, err = decodeEvery[fullConfig](t, 100, newOptions(nil), "services/API-1/addr", "a", "services/api-1/addr", "b")
	if err != nil || !maps.Equal(c.Services, map[string]instance{"API-1": {Addr: "a"}, "api-1": {Addr: "b"}}) {
		t.Fatalf("map keys: got %+v, %v; want two entries", c.Services, err)
	}
}

// Issue 10, defect 2: two documents setting one value are an error naming
// both, every time.
func TestDecodeTwoDocumentsSetOneValue(t *testing.T) {
	_, err := decodeEvery[fullConfig](t, 100, newOptions(nil), "db.yaml", "port: 1\n", "db.json", `{"port": 2}`)
	wantBothKeys(t, err, "/app/db.yaml", "/app/db.json", "both set")
	_, err = decodeEvery[fullConfig](t, 100, newOptions(nil), "db.yaml", "port: 1\n", "DB.json", `{"host": "h", "Port": 2}`)
	wantBothKeys(t, err, "/app/db.yaml", "/app/DB.json", "both set")
	// Documents that set different values merge.
	c, err := decodeEvery[fullConfig](t, 100, newOptions(nil), "db.yaml", "port: 1\n", "db.json", `{"host": "h"}`)
	if err != nil || c.DB.Host != "h" || c.DB.Port != 1 {
		t.Fatalf("got %+v, %v", c.DB, err)
	}
}

// Issue 10, defect 3: a flat view of a document's "a/b" and a plain key
// x/a/b: the plain key wins, every time; two spellings of one path inside
// documents are an error.
func TestDecodeFlatMapDocumentAndKeyAtOnePath(t *testing.T) {
	m, err := decodeEvery[map[string]string](t, 100, newOptions(nil), "x.yaml", "a/b: doc\nc: 1\n", "x/a/b", "plain")
	if err != nil || !maps.Equal(m, map[string]string{"x/a/b": "plain", "x/c": "1"}) {
		t.Fatalf("got %v, %v; want the plain key to win", m, err)
	}
	_, err = decodeEvery[map[string]string](t, 100, newOptions(nil), "x.yaml", "a/b: 1\na: {b: 2}\n")
	wantBothKeys(t, err, `"a/b"`, `"a"`, "both set")
	_, err = decodeEvery[map[string]string](t, 100, newOptions(nil), "x.yaml", "a/b: 1\n", "x/a.yaml", "b: 2\n")
	wantBothKeys(t, err, "/app/x.yaml", "/app/x/a.yaml", "both set")
}

// Issue 10, defect 4: a value and a subtree at one path are the same
// error naming both keys, whatever the options and whatever T.
func TestDecodeValueAndSubtreeIsOneErrorEverywhere(t *testing.T) {
	pairs := []string{"db", "1", "db/host", "h"}
	var want string
	check := func(name string, err error) {
		t.Helper()
		wantBothKeys(t, err, "/app/db", "/app/db/host", "cannot hold both")
		if want == "" {
			want = err.Error()
		} else if err.Error() != want {
			t.Errorf("%s: %q, want %q as in the other paths", name, err, want)
		}
	}
	_, err := decodeEvery[map[string]string](t, 20, newOptions(nil), pairs...)
	check("flat view", err)
	_, err = decodeEvery[map[string]string](t, 20, newOptions([]Option{WithStrict()}), pairs...)
	check("WithStrict", err)
	_, err = decodeEvery[map[string]string](t, 20, newOptions([]Option{WithDefaults(map[string]string{"z": "1"})}), pairs...)
	check("WithDefaults", err)
	_, err = decodeEvery[map[string]string](t, 20, newOptions(nil), append([]string{"z.yaml", "k: v\n"}, pairs...)...)
	check("with a document", err)
	_, err = decodeEvery[map[string]any](t, 20, newOptions(nil), pairs...)
	check("map[string]any", err)
	_, err = decodeEvery[fullConfig](t, 20, newOptions(nil), pairs...)
	check("struct", err)

	// The incremental path refuses a key that collides, so the full decode
	// reports it.
	d, _ := codec.NewDecoder[map[string]string]("/app/", codec.Config{})
	kvs := kvsOf("db/host", "h")
	v, err := d.Decode(kvs, 1)
	if err != nil {
		t.Fatal(err)
	}
	prev := &Snapshot[map[string]string]{Value: v, Revision: 1, prefix: "/app/", kvs: codec.KeySetOf(kvs)}
	for _, add := range [][]string{{"db", "1"}, {"db/host/x", "1"}} {
		next := maps.Clone(kvs)
		maps.Copy(next, kvsOf(add...))
		if v, _, ok := d.Incremental(prev.decoded(), codec.KeySetOf(next), 2, []string{add[0]}); ok {
			t.Errorf("incremental apply of %s beside db/host gave %v, want a full decode", add[0], v)
		}
	}
}

// Issue 10, defect 5: a string field filled from a document gets the
// scalar's source text, not YAML's reading of it.
func TestDecodeDocumentScalarsKeepTheirText(t *testing.T) {
	type release struct {
		Date    string
		Version string
		Count   int
		Tags    []string
		Extra   map[string]string
		Any     map[string]any
		Items   map[string]instance
	}
	doc := "date: 2024-01-01\nversion: 1.10\ncount: 3\ntags: [1.10, 2024-01-01, 0x1F]\n" +
		"extra: {v: 1.10, on: yes}\nany: {n: 1}\n"
	c, err := decodeEvery[struct{ R release }](t, 20, newOptions(nil), "r.yaml", doc, "r/items/a", `{"addr": 1.10}`)
	if err != nil {
		t.Fatal(err)
	}
	r := c.R
	want := release{Date: "2024-01-01", Version: "1.10", Count: 3, Tags: []string{"1.10", "2024-01-01", "0x1F"},
		Extra: map[string]string{"v": "1.10", "on": "yes"}, Any: map[string]any{"n": 1},
		Items: map[string]instance{"a": {Addr: "1.10"}}}
	if !reflect.DeepEqual(r, want) {
		t.Fatalf("got %+v, want %+v", r, want)
	}
	m, err := decodeEvery[map[string]string](t, 20, newOptions(nil), "r.yaml", "date: 2024-01-01\nversion: 1.10\n")
	if err != nil || m["r/date"] != "2024-01-01" || m["r/version"] != "1.10" {
		t.Fatalf("flat view: got %v, %v", m, err)
	}
}
