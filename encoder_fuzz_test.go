package etcdconf

import (
	"reflect"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/etcdconf/etcdconf/internal/codec"
	"github.com/etcdconf/etcdconf/internal/keytree"
	"github.com/etcdconf/etcdconf/internal/rtgen"
)

// FuzzRoundTrip drives the encoder and decoder pair without etcd: random
// bytes choose an rtgen.Config, which is encoded as Update writes it (as plain
// keys, as one YAML document, or as one JSON document), decoded as a
// watcher reads it, and compared. A value the encoder refuses is skipped;
// anything it writes must decode to exactly the value.
func FuzzRoundTrip(f *testing.F) {
	for _, seed := range []string{"", "\x00", "\x01\x01\x01\x01", "\x02abcdefghijklmnop", "\x00\xff\xfe\xfd\x10\x20\x30\x40\x50\x60\x70\x80", strings.Repeat("\x05\x03", 40)} {
		f.Add([]byte(seed))
	}
	d, err := codec.NewDecoder[rtgen.Config]("/f/", codec.Config{})
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		mode := 0
		if len(b) > 0 {
			mode, b = int(b[0])%3, b[1:]
		}
		v := rtgen.Gen{N: func(k int) int {
			if len(b) == 0 {
				return 0
			}
			n := int(b[0]) % k
			b = b[1:]
			return n
		}}.Config()
		leaves := map[string]codec.Leaf{}
		if err := codec.EncodeLeaves(reflect.ValueOf(v), nil, "", leaves); err != nil {
			return // refused, as Update refuses it
		}
		kvs := map[string]*codec.KeyValue{}
		add := func(k, s string) { kvs[k] = &codec.KeyValue{Key: k, Value: s} }
		switch mode {
		case 0:
			for k, l := range leaves {
				s, err := codec.LeafText(l.V, l.Field)
				if err != nil {
					return
				}
				add(k, s)
			}
		case 1, 2:
			n, err := codec.ValueNode(reflect.ValueOf(v), "")
			if err != nil {
				return
			}
			if mode == 1 {
				doc, err := keytree.Marshal(n)
				if err != nil {
					t.Fatalf("marshal: %v", err)
				}
				add(".yaml", string(doc))
			} else {
				var s strings.Builder
				codec.FlowJSON(&s, n)
				add(".json", s.String())
			}
		}
		got, err := d.Decode(kvs, 0)
		if err != nil {
			t.Fatalf("mode %d: what the encoder wrote does not decode: %v\nkeys: %q", mode, err, dump(kvs))
		}
		if !rtgen.Equal(got, v) {
			t.Fatalf("mode %d: read back differently:\n%s\nkeys: %q", mode, cmp.Diff(v, got, rtgen.Options), dump(kvs))
		}
	})
}

func dump(kvs map[string]*codec.KeyValue) map[string]string {
	out := map[string]string{}
	for k, kv := range kvs {
		out[k] = string(kv.Value)
	}
	return out
}
