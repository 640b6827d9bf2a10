package etcdconf

import (
	"math/rand/v2"
	"reflect"
	"testing"

	"github.com/etcdconf/etcdconf/internal/codec"
	"github.com/etcdconf/etcdconf/internal/keytree"
)

// TestListTextIsTheWritersText: keytree.ListText, which the flat view and
// the CLI's apply -f use for a document's list, gives what leafText writes
// for a []string of the same items: one text for a list, wherever it is
// written from.
func TestListTextIsTheWritersText(t *testing.T) {
	r := rand.New(rand.NewPCG(27, 18))
	for range 2000 {
		items := make([]string, r.IntN(5))
		l := make([]any, len(items))
		for i := range items {
			items[i] = genItem(r)
			l[i] = items[i]
		}
		want, err := codec.LeafText(reflect.ValueOf(items), "l")
		if err != nil {
			t.Fatalf("%q: leafText: %v", items, err)
		}
		got, err := keytree.ListText(l, []string{"l"}, nil)
		if err != nil || got != want {
			t.Fatalf("%q: ListText gives %q, %v; leafText %q", items, got, err, want)
		}
	}
}
