package etcdconf_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/etcdconf/etcdconf"
	"github.com/etcdconf/etcdconf/etcdtest"
)

// TestKeyWithTwoDocumentsIsRejected: a .yaml key holding a second document
// that is not empty is not cut to its first one: Load fails, and a watcher
// rejects the revision, with a DecodeError naming the key and the line
// (#20 item 3). A leading "---" and empty documents stay valid.
func TestKeyWithTwoDocumentsIsRejected(t *testing.T) {
	srv := etcdtest.Start(t)
	cli := srv.Client(t)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	type cfg struct{ DB struct{ Host, Port string } }
	put(t, cli, "/docs/db.yaml", "---\nhost: x\n---\n")
	w, err := etcdconf.New[cfg](ctx, cli, "/docs/")
	if err != nil {
		t.Fatalf("a leading --- and an empty document: %v", err)
	}
	defer w.Close()
	if got := w.Current().Value.DB.Host; got != "x" {
		t.Fatalf("DB.Host = %q", got)
	}
	rev := put(t, cli, "/docs/db.yaml", "host: y\n---\nport: \"1\"\n")
	deadline := time.Now().Add(10 * time.Second)
	for w.Status().Rejected == nil && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	st := w.Status()
	if st.Rejected == nil || st.Rejected.Key != "/docs/db.yaml" || st.Rejected.Revision != rev || !strings.Contains(st.Rejected.Error(), "line 2: a second YAML document") {
		t.Fatalf("Status().Rejected = %v (revision %d)", st.Rejected, rev)
	}
	if got := w.Current().Value.DB.Host; got != "x" {
		t.Errorf("the rejected revision was applied: DB.Host = %q", got)
	}
	_, err = etcdconf.Load[cfg](ctx, cli, "/docs/")
	var de *etcdconf.DecodeError
	if !errors.As(err, &de) || de.Key != "/docs/db.yaml" || !errors.Is(err, etcdconf.ErrInvalid) {
		t.Fatalf("Load: %v", err)
	}
}
