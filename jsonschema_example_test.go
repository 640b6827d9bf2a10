package etcdconf_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"log"
	"maps"
	"slices"

	"github.com/etcdconf/etcdconf"
)

// The schema of Config, which a CI job checks a file against before the
// file is applied (etcdconf validate -f config.yaml --schema
// config.schema.json). A real program writes all of it to a file; this one
// prints what it says of two fields.
func ExampleJSONSchema() {
	b, err := etcdconf.JSONSchema[Config]()
	if err != nil {
		log.Fatal(err)
	}
	var s struct {
		Properties map[string]struct{ Properties map[string]json.RawMessage }
	}
	if err := json.Unmarshal(b, &s); err != nil {
		log.Fatal(err)
	}
	fmt.Println("keys:", slices.Sorted(maps.Keys(s.Properties)))
	for _, k := range []string{"port", "timeout"} {
		var c bytes.Buffer
		json.Compact(&c, s.Properties["db"].Properties[k])
		fmt.Printf("db/%s: %s\n", k, &c)
	}
	// Output:
	// keys: [db features services]
	// db/port: {"maximum":9223372036854775807,"minimum":-9223372036854775808,"pattern":"^-?[0-9]+$","type":["integer","string"]}
	// db/timeout: {"pattern":"^[-+]?(0|(([0-9]+(\\.[0-9]*)?|\\.[0-9]+)(ns|us|µs|μs|ms|s|m|h))+)$","type":"string"}
}
