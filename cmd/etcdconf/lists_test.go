package main

import (
	"context"
	"strings"
	"testing"

	"github.com/etcdconf/etcdconf"
	"github.com/etcdconf/etcdconf/etcdtest"
	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	clientv3 "go.etcd.io/etcd/client/v3"
)

// listsFile holds every shape of list: apply -f writes each into a plain
// key as the library writes that list.
const listsFile = `hosts: [a, b]
versions: [1.10, 2024-01-01]
tags: ['a,b', c]
matrix: [[1, 2], [3]]
servers:
  - name: x
    port: 1.10
  - {name: 'a,b', port: 2}
empty: []
maybe: [a, ~]
`

type listServer struct{ Name, Port string }

type listsConfig struct {
	Hosts    []string
	Versions []string
	Tags     []string
	Matrix   [][]string
	Servers  []listServer
	Empty    []string
	Maybe    []string
}

// TestApplyWritesListsAsTheLibraryDoes: apply -f writes a list as a comma
// list of its items' source text when that reads back as them, "" when
// empty, else a JSON list (an item with a comma, a list of lists, of maps,
// one with a null); and the keys read back, into slice fields of any
// shape, as the file does when it is a document key.
func TestApplyWritesListsAsTheLibraryDoes(t *testing.T) {
	srv := etcdtest.Start(t)
	f := writeFile(t, t.TempDir(), "lists.yaml", listsFile)
	if out, code := cli(t, srv, "apply", "/l/", "-f", f, "--yes"); code != 0 {
		t.Fatalf("apply: exit %d\n%s", code, out)
	}
	etcd := srv.Client(t)
	ctx := context.Background()
	want := map[string]string{
		"hosts":    "a,b",
		"versions": "1.10,2024-01-01",
		"tags":     `["a,b","c"]`,
		"matrix":   `[["1","2"],["3"]]`,
		"servers":  `[{"name":"x","port":"1.10"},{"name":"a,b","port":"2"}]`,
		"empty":    "",
		"maybe":    `["a",null]`,
	}
	if got := prefixKeys(t, etcd, "/l/"); !cmp.Equal(got, want) {
		t.Fatalf("apply wrote (-want +got):\n%s", cmp.Diff(want, got))
	}
	if out, code := cli(t, srv, "diff", "/l/", "-f", f); code != 0 {
		t.Fatalf("diff after apply: exit %d\n%s", code, out)
	}

	// The keys read back as the file reads as a document key (here the
	// prefix itself).
	if _, err := etcd.Put(ctx, "/doc/lists.yaml", listsFile); err != nil {
		t.Fatal(err)
	}
	wantValue := listsConfig{
		Hosts:    []string{"a", "b"},
		Versions: []string{"1.10", "2024-01-01"},
		Tags:     []string{"a,b", "c"},
		Matrix:   [][]string{{"1", "2"}, {"3"}},
		Servers:  []listServer{{"x", "1.10"}, {"a,b", "2"}},
		Maybe:    []string{"a", ""},
	}
	keys := load[listsConfig](t, etcd, "/l/")
	doc := load[listsConfig](t, etcd, "/doc/lists.yaml")
	if !cmp.Equal(keys, wantValue, cmpopts.EquateEmpty()) {
		t.Errorf("the keys read back as (-want +got):\n%s", cmp.Diff(wantValue, keys, cmpopts.EquateEmpty()))
	}
	if !cmp.Equal(keys, doc, cmpopts.EquateEmpty()) {
		t.Errorf("the keys and the document read differently (-document +keys):\n%s", cmp.Diff(doc, keys, cmpopts.EquateEmpty()))
	}
	type ints struct {
		Matrix  [][]int
		Servers []struct{ Name string }
	}
	if got := load[ints](t, etcd, "/l/"); !cmp.Equal(got.Matrix, [][]int{{1, 2}, {3}}) || len(got.Servers) != 2 || got.Servers[1].Name != "a,b" {
		t.Errorf("into [][]int and []struct{Name string}: got %+v", got)
	}

	// Update writes the same text for the same value.
	w, err := etcdconf.New[listsConfig](ctx, etcd, "/u/")
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	if _, err := w.Update(ctx, func(c *listsConfig) error { *c = wantValue; return nil }); err != nil {
		t.Fatal(err)
	}
	written := prefixKeys(t, etcd, "/u/")
	for _, k := range []string{"hosts", "versions", "tags", "matrix", "servers"} {
		if written[k] != want[k] {
			t.Errorf("Update wrote %s = %q, apply -f %q", k, written[k], want[k])
		}
	}
}

func prefixKeys(t *testing.T, cli *clientv3.Client, prefix string) map[string]string {
	t.Helper()
	resp, err := cli.Get(context.Background(), prefix, clientv3.WithPrefix())
	if err != nil {
		t.Fatal(err)
	}
	m := map[string]string{}
	for _, kv := range resp.Kvs {
		m[strings.TrimPrefix(string(kv.Key), prefix)] = string(kv.Value)
	}
	return m
}

func load[T any](t *testing.T, cli *clientv3.Client, prefix string) T {
	t.Helper()
	s, err := etcdconf.Load[T](context.Background(), cli, prefix)
	if err != nil {
		t.Fatalf("load %s: %v", prefix, err)
	}
	return s.Value
}
