package plan_test

import (
	"fmt"

	"github.com/etcdconf/etcdconf/plan"
)

// A registration held as one JSON value is compared as that value: the
// file changes one field, and the key is rewritten in place. A key spelled
// DB/Port in etcd is the file's db/port.
func Example() {
	current := map[string]string{ // relative to the prefix /app/
		"svc/api-2": `{"addr":"b"}`,
		"DB/Port":   "5432",
	}
	f, err := plan.ParseFile("app.yaml", []byte("svc: {api-2: {addr: c}}\ndb: {port: 6432}\n"))
	if err != nil {
		panic(err)
	}
	p, err := plan.Keys(current, f, plan.Options{Prefix: "/app/"})
	if err != nil {
		panic(err)
	}
	for _, c := range p.Changes {
		fmt.Printf("~ /app/%s: %s -> %s\n", c.Path, c.Old, c.New)
	}
	for _, o := range p.Ops {
		fmt.Printf("put /app/%s = %s\n", o.Key, o.Value)
	}
	// Output:
	// ~ /app/DB/Port: 5432 -> 6432
	// ~ /app/svc/api-2#addr: b -> c
	// put /app/DB/Port = 6432
	// put /app/svc/api-2 = {"addr":"c"}
}
