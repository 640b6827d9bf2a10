package etcdconf_test

import (
	"context"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/etcdconf/etcdconf"
	"github.com/etcdconf/etcdconf/etcdtest"
)

type pinUser struct {
	Name string
	PIN  int `etcd:"pin,secret"`
}

type pins struct {
	Users  []pinUser
	Groups map[string][]pinUser
}

// TestSecretInListNeverInErrors: a secret inside a slice element that does
// not decode is withheld from Load's error, Status().Rejected, the error
// handler and the log, as one inside a map entry is (issue 18, item 12).
func TestSecretInListNeverInErrors(t *testing.T) {
	srv := etcdtest.Start(t)
	cli := srv.Client(t)
	ctx := context.Background()
	put(t, cli, "/s/users", `[{"name": "a", "pin": "hunter2-slice"}]`)
	if _, err := etcdconf.Load[pins](ctx, cli, "/s/"); err == nil || strings.Contains(err.Error(), "hunter2") || !strings.Contains(err.Error(), "Users[0].PIN") {
		t.Fatalf("Load: %v, want an error at Users[0].PIN without the value", err)
	}
	put(t, cli, "/s/users", `[{"name": "a", "pin": 1234}]`)
	var mu sync.Mutex
	var logged strings.Builder
	var handled []string
	w := newWatcher[pins](t, cli, "/s/",
		etcdconf.WithLogger(slog.New(slog.NewJSONHandler(&syncWriter{mu: &mu, w: &logged}, nil))),
		etcdconf.WithObserver(etcdconf.Observer{Error: func(err error) {
			mu.Lock()
			handled = append(handled, err.Error())
			mu.Unlock()
		}}))
	rev := put(t, cli, "/s/groups/g1", `[{"pin": "hunter2-group"}]`)
	hooked := func() bool { // Seen grows before the hook is called
		mu.Lock()
		defer mu.Unlock()
		return len(handled) > 0
	}
	deadline := time.Now().Add(10 * time.Second)
	for (w.Status().Seen < rev || !hooked()) && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	st := w.Status()
	if st.Rejected == nil || st.Rejected.Revision != rev || !strings.Contains(st.Rejected.Error(), `Groups["g1"][0].PIN`) {
		t.Fatalf("Status().Rejected = %v, want revision %d rejected at Groups[\"g1\"][0].PIN", st.Rejected, rev)
	}
	mu.Lock()
	defer mu.Unlock()
	all := st.Rejected.Error() + strings.Join(handled, "\n") + logged.String()
	if len(handled) != 1 || !strings.Contains(logged.String(), `Groups[\"g1\"][0].PIN`) || strings.Contains(all, "hunter2") {
		t.Fatalf("a secret was shown, or the rejection not reported: handled %q, log:\n%s", handled, logged.String())
	}
}

type syncWriter struct {
	mu *sync.Mutex
	w  *strings.Builder
}

func (s *syncWriter) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.w.Write(p)
}
