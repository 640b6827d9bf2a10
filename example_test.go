package etcdconf_test

import (
	"context"
	"fmt"
	"log"
	"time"

	"github.com/etcdconf/etcdconf"
)

// The examples here use [etcdconf.NewStatic], which needs no etcd: a
// watcher made by [etcdconf.New] is read, subscribed to and closed the same
// way. The tests module holds the examples that talk to etcd.

// Config is the configuration of the examples. In etcd it is one key per
// field: db/host, db/port, db/timeout, features/new-ui, services/api-1/addr.
type Config struct {
	DB struct {
		Host    string
		Port    int
		Timeout time.Duration
	}
	Features map[string]etcdconf.Flag
	Services map[string]Service
}

// Service is one instance found by service discovery.
type Service struct{ Addr string }

// Validate rejects a configuration the service cannot run with: a revision
// that fails it is never published.
func (c *Config) Validate() error {
	if c.DB.Port < 0 || c.DB.Port > 65535 {
		return fmt.Errorf("db port %d out of range", c.DB.Port)
	}
	return nil
}

func Example() {
	var start Config
	start.DB.Host, start.DB.Port = "db.internal", 5432
	w, set, err := etcdconf.NewStatic(start)
	if err != nil {
		log.Fatal(err)
	}
	defer w.Close()
	fmt.Println("port:", w.Current().Value.DB.Port) // lock-free, on every request

	ctx := context.Background()
	events := w.Subscribe(ctx)
	next := w.Current().Value
	next.DB.Port, next.DB.Timeout = 6432, 2*time.Second
	if err := set(next); err != nil { // with New: a change in etcd
		log.Fatal(err)
	}
	e := <-events
	for _, c := range e.Changes {
		fmt.Println("changed:", c)
	}
	fmt.Println("revision", e.Old.Revision, "->", e.New.Revision)

	next.DB.Port = 70000
	fmt.Println("rejected:", set(next) != nil)
	fmt.Println("still serving port", w.Current().Value.DB.Port)
	// Output:
	// port: 5432
	// changed: DB.Port: 5432 -> 6432
	// changed: DB.Timeout: 0s -> 2s
	// revision 1 -> 2
	// rejected: true
	// still serving port 6432
}

func ExampleLookup() {
	var cfg Config
	cfg.DB.Port = 5432
	cfg.Services = map[string]Service{"api-1": {Addr: "10.0.0.1:8080"}}
	w, _, err := etcdconf.NewStatic(cfg)
	if err != nil {
		log.Fatal(err)
	}
	defer w.Close()

	port, ok, err := etcdconf.Lookup[int](w.Current(), "DB.Port")
	fmt.Println(port, ok, err)
	addr, ok, err := etcdconf.Lookup[string](w.Current(), `Services["api-1"].Addr`)
	fmt.Println(addr, ok, err)
	_, ok, err = etcdconf.Lookup[string](w.Current(), `Services["api-2"].Addr`)
	fmt.Println(ok, err) // no such instance
	_, _, err = etcdconf.Lookup[string](w.Current(), "DB.Port")
	fmt.Println(err != nil) // DB.Port is an int: a bug, found from the types
	// Output:
	// 5432 true <nil>
	// 10.0.0.1:8080 true <nil>
	// false <nil>
	// true
}

func ExampleWatcher_Subscribe() {
	var cfg Config
	w, set, err := etcdconf.NewStatic(cfg)
	if err != nil {
		log.Fatal(err)
	}
	defer w.Close()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel() // ends the subscription
	services := w.Subscribe(ctx, etcdconf.WithPaths("Services"))

	cfg.DB.Host = "db.internal" // not under Services: not delivered
	if err := set(cfg); err != nil {
		log.Fatal(err)
	}
	cfg.Services = map[string]Service{"api-1": {Addr: "10.0.0.1:8080"}}
	if err := set(cfg); err != nil {
		log.Fatal(err)
	}
	e := <-services
	fmt.Println(e.New.Revision, e.Changes[0])
	// Output: 3 Services["api-1"]: added {Addr:10.0.0.1:8080}
}

func ExampleFlag() {
	var cfg Config
	// What the decoder gives for features/new-ui = "25%".
	cfg.Features = map[string]etcdconf.Flag{"new-ui": etcdconf.FlagPercent(`Features["new-ui"]`, 25)}
	w, _, err := etcdconf.NewStatic(cfg)
	if err != nil {
		log.Fatal(err)
	}
	defer w.Close()

	newUI := w.Current().Value.Features["new-ui"]
	on := 0
	for i := range 10000 {
		if newUI.Enabled(fmt.Sprint("user-", i)) { // the same answer for a user every time
			on++
		}
	}
	fmt.Println(newUI, newUI.On(), on/100, "% of users")
	// Output: 25% false 25 % of users
}
