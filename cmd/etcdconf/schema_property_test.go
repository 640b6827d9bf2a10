package main

import (
	"encoding/base64"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/etcdconf/etcdconf/internal/codec"
	"github.com/etcdconf/etcdconf/internal/keytree"
	"github.com/etcdconf/etcdconf/internal/rtgen"
	planner "github.com/etcdconf/etcdconf/plan"
	"github.com/santhosh-tekuri/jsonschema/v6"
	"gopkg.in/yaml.v3"
)

// TestSchemaTakesWhatTheEncoderWrites: for random struct types and values
// (rtgen's Type and Value, and its round-trip Config with awkward
// strings), the file the encoder's leaves make — each scalar as the text a
// key holds, a list as a sequence — fits the type's JSON Schema, read as
// etcdconf validate reads it. Goal: every file the encoder can write.
func TestSchemaTakesWhatTheEncoderWrites(t *testing.T) {
	dir := t.TempDir()
	r := rand.New(rand.NewPCG(22, 1))
	g := rtgen.Gen{N: func(k int) int { return r.IntN(k) }}
	var files, fit int
	refused := map[string]int{}
	check := func(typ reflect.Type, v reflect.Value, name string, sch *jsonschema.Schema) {
		b, err := encoderFile(v)
		if err != nil {
			// the encoder refuses the value: a string that is not
			// UTF-8, an empty map key, a map key with "/" or a
			// document's extension
			refused[strings.Fields(name)[0]]++
			return
		}
		files++
		if _, err := planner.ParseFile("f.yaml", b); err != nil {
			t.Fatalf("%s: the file does not parse: %v\n%s", name, err, b)
		}
		inst, _, err := instance(b)
		if err != nil {
			t.Fatal(err)
		}
		if err := sch.Validate(inst); err != nil {
			t.Errorf("%s %v: the encoder's file does not fit the schema:\n%s\n%v", name, typ, b, err)
			return
		}
		fit++
	}
	const types, values = 300, 10
	for i := range types {
		typ := g.Type(2)
		sch := compiled(t, dir, typ)
		for range values {
			check(typ, g.Value(typ), fmt.Sprintf("type %d", i), sch)
		}
	}
	cfg := compiled(t, dir, reflect.TypeFor[rtgen.Config]())
	for i := range 3000 {
		c := rtgen.Gen{N: g.N, Tame: i%2 == 0}.Config() // half tame: wild strings are mostly refused
		check(reflect.TypeFor[rtgen.Config](), reflect.ValueOf(c), fmt.Sprintf("Config %d", i), cfg)
	}
	t.Logf("files the encoder wrote that fit the schema: %d of %d (%.1f%%); values the encoder refused (not files): %d of %d random types' values, %d of 3000 Configs",
		fit, files, 100*float64(fit)/float64(files), refused["type"], types*values, refused["Config"])
	if fit != files {
		t.Errorf("%d of %d files do not fit", files-fit, files)
	}
}

// TestSchemaRejectsWhatTheDecoderRejects measures, for files mutated from
// the encoder's file of a random rtgen.Config (a scalar replaced by a
// wrong one, a mapping by a scalar, a scalar by a mapping), how many of
// those the decoder rejects the schema rejects too. The schema describes
// the encoder's spellings and the decoder takes more, so this is a figure,
// not a property; it fails only if the schema misses most of them.
func TestSchemaRejectsWhatTheDecoderRejects(t *testing.T) {
	sch := compiled(t, t.TempDir(), reflect.TypeFor[rtgen.Config]())
	dec, err := codec.NewDecoder[rtgen.Config]("/app/", codec.Config{})
	if err != nil {
		t.Fatal(err)
	}
	r := rand.New(rand.NewPCG(22, 2))
	g := rtgen.Gen{N: func(k int) int { return r.IntN(k) }, Tame: true}
	bad := []string{"x", "5", "maybe", "on", "70000000000000000000", "1.5.2", "0x1G", "25%", "1e400", "-", "1m30", "2024-13-01"}
	var decRejects, both, schemaOnly, total int
	for range 4000 {
		b, err := encoderFile(reflect.ValueOf(g.Config()))
		if err != nil {
			continue
		}
		var doc yaml.Node
		if err := yaml.Unmarshal(b, &doc); err != nil || len(doc.Content) == 0 {
			t.Fatal(err)
		}
		var nodes []*yaml.Node
		var walk func(n *yaml.Node)
		walk = func(n *yaml.Node) {
			for i, c := range n.Content {
				if n.Kind == yaml.MappingNode && i%2 == 0 {
					continue
				}
				nodes = append(nodes, c)
				walk(c)
			}
		}
		walk(doc.Content[0])
		if len(nodes) == 0 {
			continue
		}
		n := nodes[r.IntN(len(nodes))]
		switch r.IntN(4) {
		case 0:
			*n = yaml.Node{Kind: yaml.MappingNode, Tag: "!!map", Content: []*yaml.Node{keytree.StringNode("k"), keytree.StringNode("v")}}
		case 1:
			*n = yaml.Node{Kind: yaml.SequenceNode, Tag: "!!seq", Content: []*yaml.Node{keytree.StringNode(bad[r.IntN(len(bad))])}}
		default:
			*n = yaml.Node{Kind: yaml.ScalarNode, Value: bad[r.IntN(len(bad))]}
		}
		mb, err := yaml.Marshal(&doc)
		if err != nil {
			t.Fatal(err)
		}
		total++
		decErr := decodeFile(dec, mb)
		inst, _, err := instance(mb)
		schemaErr := err
		if err == nil {
			schemaErr = sch.Validate(inst)
		}
		switch {
		case decErr != nil && schemaErr != nil:
			decRejects++
			both++
		case decErr != nil:
			decRejects++
		case schemaErr != nil:
			schemaOnly++
		}
	}
	t.Logf("mutated files: %d; the decoder rejects %d, of which the schema rejects %d (%.1f%%); the schema alone rejects %d that the decoder takes (mostly a list or a mapping where a scalar is, which the decoder reads as a comma list or as unknown keys; on for true)",
		total, decRejects, both, 100*float64(both)/float64(max(decRejects, 1)), schemaOnly)
	if both*2 < decRejects {
		t.Errorf("the schema rejects only %d of the %d files the decoder rejects", both, decRejects)
	}
}

// decodeFile decodes a file's keys as apply would write them, as the
// library reads them back.
func decodeFile(dec *codec.Decoder[rtgen.Config], b []byte) error {
	f, err := planner.ParseFile("f.yaml", b)
	if err != nil {
		return err
	}
	kvs := map[string]*codec.KeyValue{}
	for k, v := range f.Keys() {
		kvs[k] = &codec.KeyValue{Key: k, Value: v, ModRevision: 1}
	}
	_, err = dec.Decode(kvs, 1)
	return err
}

// compiled returns the compiled JSON Schema of typ, read back from a file
// as etcdconf validate reads one.
func compiled(t *testing.T, dir string, typ reflect.Type) *jsonschema.Schema {
	t.Helper()
	b, err := codec.JSONSchema(typ, typ.String())
	if err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(dir, "s.json")
	if err := os.WriteFile(p, b, 0o644); err != nil {
		t.Fatal(err)
	}
	sch, _, err := compileSchema(p, false)
	if err != nil {
		t.Fatalf("%v: %v\n%s", typ, err, b)
	}
	return sch
}

// encoderFile writes v as a YAML file of the leaves the encoder writes for
// it, each at its canonical path: a scalar as the text a key holds for it
// (a number or bool as a YAML number or bool, other text as a string, bytes
// that are not UTF-8 as !!binary), a list as a sequence of its items (a
// struct item as the encoder's YAML of it).
func encoderFile(v reflect.Value) ([]byte, error) {
	leaves := map[string]codec.Leaf{}
	if err := codec.EncodeLeaves(v, nil, "", leaves); err != nil {
		return nil, err
	}
	root := &yaml.Node{Kind: yaml.MappingNode, Tag: "!!map"}
	for _, k := range slices.Sorted(func(yield func(string) bool) {
		for k := range leaves {
			if !yield(k) {
				return
			}
		}
	}) {
		l := leaves[k]
		n, err := leafNode(l.V, l.Field)
		if err != nil {
			return nil, err
		}
		at := root
		segs := keytree.Segments(k)
		for _, s := range segs[:len(segs)-1] {
			at = child(at, s)
		}
		at.Content = append(at.Content, keytree.StringNode(segs[len(segs)-1]), n)
	}
	return keytree.Marshal(root)
}

func child(m *yaml.Node, key string) *yaml.Node {
	for i := 0; i < len(m.Content); i += 2 {
		if m.Content[i].Value == key {
			return m.Content[i+1]
		}
	}
	c := &yaml.Node{Kind: yaml.MappingNode, Tag: "!!map"}
	m.Content = append(m.Content, keytree.StringNode(key), c)
	return c
}

func leafNode(v reflect.Value, field string) (*yaml.Node, error) {
	for v.Kind() == reflect.Pointer || v.Kind() == reflect.Interface {
		v = v.Elem()
	}
	if v.Kind() == reflect.Slice && !codec.IsBytes(v.Type()) {
		n := &yaml.Node{Kind: yaml.SequenceNode, Tag: "!!seq", Style: yaml.FlowStyle}
		for i := range v.Len() {
			var c *yaml.Node
			var err error
			if codec.IsComposite(v.Type().Elem()) {
				c, err = codec.ValueNode(v.Index(i), field)
			} else {
				c, err = leafNode(v.Index(i), field)
			}
			if err != nil {
				return nil, err
			}
			n.Content = append(n.Content, c)
		}
		if len(n.Content) > 0 {
			n.Style = 0
		}
		return n, nil
	}
	text, err := codec.LeafText(v, field)
	if err != nil {
		return nil, err
	}
	if v.Type().Implements(reflect.TypeFor[interface{ MarshalText() ([]byte, error) }]()) || v.Type() == reflect.TypeFor[time.Duration]() {
		return keytree.StringNode(text), nil
	}
	switch v.Kind() {
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!int", Value: text}, nil
	case reflect.Bool:
		return &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!bool", Value: text}, nil
	case reflect.Float32, reflect.Float64:
		if strings.ContainsAny(text, "NI") { // NaN, +Inf, -Inf: text YAML reads as a string
			return keytree.StringNode(text), nil
		}
		return &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!float", Value: text}, nil
	case reflect.Slice: // bytes
		if !utf8.ValidString(text) {
			return &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!binary", Value: base64.StdEncoding.EncodeToString([]byte(text))}, nil
		}
	}
	return keytree.StringNode(text), nil
}
