package etcdconf_test

import (
	"context"
	"fmt"
	"log"

	"github.com/etcdconf/etcdconf"
)

// Registry is a service registry: in etcd, services/<name>/addr and
// services/<name>/weight, one entry per name.
type Registry struct {
	Services etcdconf.Map[string, Instance]
}

// Instance is one entry of the registry.
type Instance struct {
	Addr   string
	Weight int
}

// A Map field is read as a Go map is, and changed by new versions: the
// function given to Watcher.Update builds the next value with With and
// Without (here applied with NewStatic's set, which needs no etcd).
func ExampleMap() {
	w, set, err := etcdconf.NewStatic(Registry{
		Services: etcdconf.MapOf(map[string]Instance{
			"api-1": {Addr: "10.0.0.1:80", Weight: 1},
			"api-2": {Addr: "10.0.0.2:80", Weight: 1},
		}),
	})
	if err != nil {
		log.Fatal(err)
	}
	defer w.Close()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	events := w.Subscribe(ctx, etcdconf.WithPaths(`Services["api-1"]`, `Services["api-3"]`))

	// What w.Update(ctx, scale) would write to etcd: api-1's weight, the
	// new api-3, and api-2's keys deleted.
	scale := func(r *Registry) error {
		api1, _ := r.Services.Get("api-1")
		api1.Weight = 5
		r.Services = r.Services.With("api-1", api1).
			With("api-3", Instance{Addr: "10.0.0.3:80", Weight: 1}).
			Without("api-2")
		return nil
	}
	next := w.Current().Value
	if err := scale(&next); err != nil {
		log.Fatal(err)
	}
	if err := set(next); err != nil {
		log.Fatal(err)
	}
	e := <-events
	for _, c := range e.Changes {
		fmt.Println(c)
	}
	for name, in := range e.New.Value.Services.All() { // in key order
		fmt.Println(name, in.Addr, in.Weight)
	}
	addr, ok, err := etcdconf.Lookup[string](e.New, `Services["api-3"].Addr`)
	fmt.Println(addr, ok, err, e.Old.Value.Services.Len())
	// Output:
	// Services["api-1"].Weight: 1 -> 5
	// Services["api-3"]: added {Addr:10.0.0.3:80 Weight:1}
	// api-1 10.0.0.1:80 5
	// api-3 10.0.0.3:80 1
	// 10.0.0.3:80 true <nil> 2
}
