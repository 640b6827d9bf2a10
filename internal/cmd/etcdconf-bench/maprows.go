package main

import (
	"context"
	"fmt"
	"time"

	"github.com/etcdconf/etcdconf"
	clientv3 "go.etcd.io/etcd/client/v3"
)

// The Map rows (#24) run the typed workloads into etcdconf.Map instead of
// a Go map, each in the place of the Go-map row it mirrors, so that both
// meet the process in the same state (a heap just grown by a 100k load
// slows the next few hundred writes). The reload and burst rows have a raw
// follower of their own, run in the same place of the raw half; the
// others share the Go-map row's raw figure (the same keys, the same
// writes, one floor for both).
type mapRows struct {
	reloadP50, reloadP99, burstTime, burstCPU, big, growth, inStruct, heap *row
	// A watcher's live heap, idle after its load: a Go map's holds the
	// spare copy the watcher makes while it waits; a Map's needs none.
	watchGo, watchMap *row
}

func newMapRows(sz sizes) *mapRows {
	return &mapRows{
		reloadP50: &row{name: fmt.Sprintf("Map[string]Entry, %d keys: reload p50", sz.keys), unit: "ms", target: 1.3},
		reloadP99: &row{name: "Map: reload p99", unit: "ms", target: 1.4},
		burstTime: &row{name: fmt.Sprintf("Map: burst of %d puts by %d writers: time", sz.burstPuts/2, sz.writers), unit: "ms", target: 1.2},
		burstCPU:  &row{name: "Map: burst client CPU", unit: "ms", target: 1.5},
		big:       &row{name: fmt.Sprintf("Map: one change at %d keys: p50 of %d puts", sz.loadKeys, sz.bigPuts), unit: "ms", target: 1.5},
		growth:    &row{name: fmt.Sprintf("Map: one change at %d vs %d keys (etcdconf's own p50s)", sz.loadKeys, sz.keys), kind: own, target: 1.5},
		inStruct:  &row{name: fmt.Sprintf("registry of %d entries inside a struct, Map field: one change p50", sz.regEntries), unit: "ms", target: 1.3},
		heap:      &row{name: fmt.Sprintf("Map: load %d keys: live heap", sz.loadKeys), unit: "MB", target: 2},
		watchGo:   &row{name: fmt.Sprintf("typed map[string]Entry watcher, %d keys, idle: live heap (with its spare)", sz.loadKeys), unit: "MB", kind: info},
		watchMap:  &row{name: fmt.Sprintf("Map watcher, %d keys, idle: live heap", sz.loadKeys), unit: "MB", target: 2},
	}
}

func (m *mapRows) all() []*row {
	return []*row{m.reloadP50, m.reloadP99, m.burstTime, m.burstCPU, m.big, m.growth, m.inStruct, m.heap, m.watchGo, m.watchMap}
}

// appConfigMap is appConfig with its registry in a Map.
type appConfigMap struct {
	Name     string
	Services etcdconf.Map[string, instance]
}

// reload measures the reload and burst rows, against a raw follower of
// their own when useConf is false.
func (m *mapRows) reload(ctx context.Context, cli *clientv3.Client, sz sizes, useConf bool, add func(*row, float64)) error {
	var f follower
	var err error
	if useConf {
		f, err = newConf[etcdconf.Map[string, entry]](cli, "/bench/typed/")
	} else {
		f, err = newRaw(cli, "/bench/typed/")
	}
	if err != nil {
		return err
	}
	defer f.close()
	lat, err := latency(ctx, cli, f, "/bench/typed/", sz.keys, sz.latencyPuts, key)
	if err != nil {
		return err
	}
	add(m.reloadP50, percentile(lat, 0.5))
	add(m.reloadP99, percentile(lat, 0.99))
	d, cpu, err := burst(ctx, cli, f, "/bench/typed/", sz.keys, sz.burstPuts/2, sz.writers)
	if err != nil {
		return err
	}
	add(m.burstTime, float64(d.Milliseconds()))
	add(m.burstCPU, float64(cpu.Milliseconds()))
	return nil
}

// load measures the Map's side of the live heap after a load.
func (m *mapRows) load(ctx context.Context, cli *clientv3.Client) error {
	_, mb, err := timeLoad(func() (any, error) {
		return etcdconf.Load[etcdconf.Map[string, entry]](ctx, cli, "/bench/big/")
	})
	m.heap.conf = append(m.heap.conf, mb)
	return err
}

// idle measures the Map's side of the idle watchers' heap rows.
func (m *mapRows) idle(ctx context.Context, cli *clientv3.Client) error {
	mb, err := watchHeap[map[string]entry](ctx, cli, "/bench/big/")
	if err != nil {
		return err
	}
	m.watchGo.conf = append(m.watchGo.conf, mb)
	if mb, err = watchHeap[etcdconf.Map[string, entry]](ctx, cli, "/bench/big/"); err != nil {
		return err
	}
	m.watchMap.conf = append(m.watchMap.conf, mb)
	return nil
}

// watchHeap returns the live heap, in MB, of a watcher of prefix once it
// has loaded and waited a second (time to make its spare), as heldBy
// measures it.
func watchHeap[T any](ctx context.Context, cli *clientv3.Client, prefix string) (float64, error) {
	w, err := etcdconf.New[T](ctx, cli, prefix)
	if err != nil {
		return 0, err
	}
	time.Sleep(time.Second)
	return heldBy(w, func() { w.Close() }), nil
}

// floor gives each Map row that shares a Go-map row's floor its raw
// figures, once every run is done.
func (m *mapRows) floor(big, inStruct, heap *row) {
	for _, p := range [][2]*row{{m.big, big}, {m.inStruct, inStruct}, {m.heap, heap}, {m.watchGo, heap}, {m.watchMap, heap}} {
		p[0].raw = p[1].raw
	}
	m.growth.raw = []float64{median(big.raw) / median(m.reloadP50.raw)}
	m.growth.conf = []float64{median(m.big.conf) / median(m.reloadP50.conf)}
}
