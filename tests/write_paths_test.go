package etcdconf_test

import (
	"context"
	"strings"
	"testing"

	"github.com/etcdconf/etcdconf/etcdtest"
)

// TestSetAndDeleteHintAtKeyPaths: Set and Delete take key paths relative to
// the prefix; given a Go path or a full key, the error says which key path
// was meant (issue 18, smaller).
func TestSetAndDeleteHintAtKeyPaths(t *testing.T) {
	srv := etcdtest.Start(t)
	cli := srv.Client(t)
	put(t, cli, "/c/db/port", "1")
	w := newWatcher[writable](t, cli, "/c/")
	ctx := context.Background()
	for _, tc := range []struct{ path, says string }{
		{"DB.Port", `such as "db/port", not Go paths`},
		{`Services["a"].Addr`, `such as "services/a/addr", not Go paths`},
		{"/c/db/port", `relative to the prefix "/c/", such as "db/port", not full keys`},
		{"nope", `relative to the prefix "/c/", such as "name" for the field Name`},
	} {
		_, err := w.Set(ctx, tc.path, 2)
		if err == nil || !strings.Contains(err.Error(), "no field of") || !strings.Contains(err.Error(), tc.says) {
			t.Errorf("Set(%q): %v, want a hint saying %s", tc.path, err, tc.says)
		}
		_, err = w.Delete(ctx, tc.path)
		if err == nil || !strings.Contains(err.Error(), tc.says) {
			t.Errorf("Delete(%q): %v, want a hint saying %s", tc.path, err, tc.says)
		}
	}
}
