package etcdconf

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/etcdconf/etcdconf/internal/rtgen"
)

// schemaConfig holds one field of every kind the schema spells.
type schemaConfig struct {
	Name     string `desc:"the service's name"`
	Password string `etcd:"password,secret"`
	MaxConns int    `etcd:"max-conns" desc:"connections at most"`
	Ratio    float32
	Small    uint8
	On       bool
	Timeout  time.Duration
	At       time.Time
	Blob     []byte
	Beta     Flag   `desc:"the beta rollout"`
	Host     string `etcd:"db/host"`
	Tags     []string
	Servers  []rtgen.Server
	Services map[string]rtgen.Inner
	Labels   map[string]string
	Shards   map[int]rtgen.Inner
	Tree     *schemaNode
	Any      any
	Skipped  string `etcd:"-"`
	hidden   int
}

type schemaNode struct {
	Name string
	Kids []schemaNode
}

// TestJSONSchemaGolden: the schema of a type with every kind of field, as
// testdata/jsonschema/config.json holds it (go test -update rewrites it).
func TestJSONSchemaGolden(t *testing.T) {
	_ = schemaConfig{hidden: 1}.hidden
	got, err := JSONSchema[schemaConfig]()
	if err != nil {
		t.Fatal(err)
	}
	if !json.Valid(got) {
		t.Fatalf("not JSON:\n%s", got)
	}
	path := filepath.Join("testdata", "jsonschema", "config.json")
	if *update {
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test -update to create it)", err)
	}
	if !bytes.Equal(got, want) {
		t.Fatalf("the schema differs from %s:\n%s", path, got)
	}
}

// TestJSONSchemaDeterministic: the same T gives the same bytes, however
// often and from however many goroutines it is asked, and whatever other
// types were asked before.
func TestJSONSchemaDeterministic(t *testing.T) {
	first, err := JSONSchema[schemaConfig]()
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Go(func() {
			for i := range 50 {
				if (g+i)%2 == 0 {
					if _, err := JSONSchema[rtgen.Config](); err != nil {
						t.Error(err)
						return
					}
				}
				b, err := JSONSchema[schemaConfig]()
				if err != nil || !bytes.Equal(b, first) {
					t.Errorf("run %d.%d: %v, and the bytes differ:\n%s", g, i, err, b)
					return
				}
			}
		})
	}
	wg.Wait()
}

// TestJSONSchemaRefuses: a T that is no mapping of keys, or that holds a
// field no key can hold, is an error naming it.
func TestJSONSchemaRefuses(t *testing.T) {
	if _, err := JSONSchema[int](); err == nil || !strings.Contains(err.Error(), "not a struct or a map") {
		t.Errorf("JSONSchema[int]: %v", err)
	}
	type bad struct{ DB struct{ C chan int } }
	if _, err := JSONSchema[bad](); err == nil || !strings.Contains(err.Error(), "DB.C") {
		t.Errorf("JSONSchema with a chan field: %v", err)
	}
	if b, err := JSONSchema[map[string]string](); err != nil || !json.Valid(b) {
		t.Errorf("JSONSchema[map[string]string]: %v\n%s", err, b)
	}
}
