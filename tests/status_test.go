package etcdconf_test

import (
	"testing"

	"github.com/etcdconf/etcdconf"
	"github.com/etcdconf/etcdconf/etcdtest"
)

// TestStatusNotConnectedAfterClose: a closed watcher watches nothing, so
// Status says it is not connected, for a watcher of etcd and a static one.
func TestStatusNotConnectedAfterClose(t *testing.T) {
	srv := etcdtest.Start(t)
	w := newWatcher[instance](t, srv.Client(t), "/status/")
	if !w.Status().Connected {
		t.Fatal("a new watcher is not connected")
	}
	w.Close()
	if st := w.Status(); st.Connected {
		t.Fatalf("watcher of etcd: Connected after Close: %+v", st)
	}

	sw, _, err := etcdconf.NewStatic(staticCfg{Port: 1})
	if err != nil {
		t.Fatal(err)
	}
	if !sw.Status().Connected {
		t.Fatal("a new static watcher is not connected")
	}
	sw.Close()
	if st := sw.Status(); st.Connected {
		t.Fatalf("static watcher: Connected after Close: %+v", st)
	}
}
