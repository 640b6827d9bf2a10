package main

import (
	"context"
	"fmt"
	"time"

	"github.com/etcdconf/etcdconf"
	clientv3 "go.etcd.io/etcd/client/v3"
)

// The Map rows (#24) run the typed workloads into etcdconf.Map instead of
// a Go map. The raw follower of each is the Go-map row's (the same keys,
// the same writes), so their raw figures are taken from those rows: one
// floor for both.
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
		watchGo:   &row{name: fmt.Sprintf("typed map[string]Entry watcher, %d keys, idle: live heap (with its spare)", sz.loadKeys), unit: "MB", target: 2.5},
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

// run measures etcdconf's side of every Map row once.
func (m *mapRows) run(ctx context.Context, cli *clientv3.Client, sz sizes) error {
	f, err := newConf[etcdconf.Map[string, entry]](cli, "/bench/typed/")
	if err != nil {
		return err
	}
	lat, err := latency(ctx, cli, f, "/bench/typed/", sz.keys, sz.latencyPuts, key)
	if err != nil {
		f.close()
		return err
	}
	m.reloadP50.conf = append(m.reloadP50.conf, percentile(lat, 0.5))
	m.reloadP99.conf = append(m.reloadP99.conf, percentile(lat, 0.99))
	d, cpu, err := burst(ctx, cli, f, "/bench/typed/", sz.keys, sz.burstPuts/2, sz.writers)
	f.close()
	if err != nil {
		return err
	}
	m.burstTime.conf = append(m.burstTime.conf, float64(d.Milliseconds()))
	m.burstCPU.conf = append(m.burstCPU.conf, float64(cpu.Milliseconds()))
	if _, lat, err = oneChange(ctx, cli, startConf[etcdconf.Map[string, entry]], "/bench/big/", sz.loadKeys, sz.bigPuts, 0); err != nil {
		return err
	}
	m.big.conf = append(m.big.conf, percentile(lat, 0.5))
	if _, lat, err = oneChange(ctx, cli, startConf[appConfigMap], "/bench/app/", 2*sz.regEntries, sz.bigPuts, 0, appKey); err != nil {
		return err
	}
	m.inStruct.conf = append(m.inStruct.conf, percentile(lat, 0.5))
	_, mb, err := timeLoad(func() (any, error) {
		return etcdconf.Load[etcdconf.Map[string, entry]](ctx, cli, "/bench/big/")
	})
	if err != nil {
		return err
	}
	m.heap.conf = append(m.heap.conf, mb)
	if mb, err = watchHeap[map[string]entry](ctx, cli, "/bench/big/"); err != nil {
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

// floor gives each Map row the raw figures of the Go-map row it mirrors,
// once every run is done.
func (m *mapRows) floor(reloadP50, reloadP99, burstTime, burstCPU, big, inStruct, heap *row) {
	for _, p := range [][2]*row{{m.reloadP50, reloadP50}, {m.reloadP99, reloadP99}, {m.burstTime, burstTime},
		{m.burstCPU, burstCPU}, {m.big, big}, {m.inStruct, inStruct}, {m.heap, heap}, {m.watchGo, heap}, {m.watchMap, heap}} {
		p[0].raw = p[1].raw
	}
	m.growth.raw = []float64{median(big.raw) / median(reloadP50.raw)}
	m.growth.conf = []float64{median(m.big.conf) / median(m.reloadP50.conf)}
}
