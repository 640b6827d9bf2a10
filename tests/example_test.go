package etcdconf_test

import (
	"context"
	"errors"
	"fmt"
	"log"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/etcdconf/etcdconf"
	"github.com/etcdconf/etcdconf/etcdtest"
	clientv3 "go.etcd.io/etcd/client/v3"
)

// exampleEtcd starts an embedded etcd for the examples; a service would dial
// its own cluster instead.
func exampleEtcd() (*etcdtest.Server, *clientv3.Client) {
	srv, err := etcdtest.NewServer()
	if err != nil {
		log.Fatal(err)
	}
	cli, err := srv.NewClient()
	if err != nil {
		log.Fatal(err)
	}
	return srv, cli
}

func Example() {
	srv, cli := exampleEtcd()
	defer srv.Close()
	defer cli.Close()
	ctx := context.Background()
	cli.Put(ctx, "/myapp/config/db/port", "5432")

	type AppConfig struct {
		DB struct {
			Host    string
			Port    int
			Timeout time.Duration
		}
	}
	w, err := etcdconf.New[AppConfig](ctx, cli, "/myapp/config/")
	if err != nil {
		log.Fatal(err)
	}
	defer w.Close()
	fmt.Println("port:", w.Current().Value.DB.Port) // lock-free, on every request

	updates := w.Subscribe(ctx)
	cli.Put(ctx, "/myapp/config/db/port", "6432")
	u := <-updates
	for _, c := range u.Changes {
		fmt.Println("changed:", c)
	}
	// Output:
	// port: 5432
	// changed: DB.Port: 5432 -> 6432
}

func ExampleLoad() {
	srv, cli := exampleEtcd()
	defer srv.Close()
	defer cli.Close()
	ctx := context.Background()
	cli.Put(ctx, "/flags/new-ui", "true")
	cli.Put(ctx, "/flags/beta", "false")

	snap, err := etcdconf.Load[map[string]bool](ctx, cli, "/flags/")
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(snap.Value["new-ui"], snap.Value["beta"])
	// Output: true false
}

func ExampleWatcher_Status() {
	srv, cli := exampleEtcd()
	defer srv.Close()
	defer cli.Close()
	ctx := context.Background()
	cli.Put(ctx, "/svc/port", "80")

	type Config struct{ Port int }
	w, err := etcdconf.New[Config](ctx, cli, "/svc/")
	if err != nil {
		log.Fatal(err)
	}
	defer w.Close()
	resp, _ := cli.Put(ctx, "/svc/port", "eighty") // does not decode: rejected
	_, err = w.WaitRevision(ctx, resp.Header.Revision)
	fmt.Println("rejected:", errors.Is(err, etcdconf.ErrInvalid))
	st := w.Status()
	fmt.Println("rejections:", st.Rejections, "key:", st.Rejected.Key)
	fmt.Println("still serving port", w.Current().Value.Port)
	fmt.Println("ready:", !st.Stale(time.Now(), 30*time.Second))
	// Output:
	// rejected: true
	// rejections: 1 key: /svc/port
	// still serving port 80
	// ready: true
}

func ExampleWithDefaults() {
	srv, cli := exampleEtcd()
	defer srv.Close()
	defer cli.Close()
	ctx := context.Background()
	cli.Put(ctx, "/svc/port", "8080")

	type Config struct {
		Host string
		Port int
	}
	snap, err := etcdconf.Load[Config](ctx, cli, "/svc/", etcdconf.WithDefaults(Config{Host: "localhost", Port: 80}))
	if err != nil {
		log.Fatal(err)
	}
	fmt.Printf("%+v\n", snap.Value)
	// Output: {Host:localhost Port:8080}
}

// Layers: defaults < a file < etcd < the environment, one typed value,
// and where each field came from, as a startup log line would say it.
func ExampleWithFile() {
	srv, cli := exampleEtcd()
	defer srv.Close()
	defer cli.Close()
	ctx := context.Background()
	cli.Put(ctx, "/svc/db/port", "6432")

	dir, _ := os.MkdirTemp("", "example")
	defer os.RemoveAll(dir)
	file := filepath.Join(dir, "base.yaml")
	os.WriteFile(file, []byte("db:\n  host: db.internal\n  port: 5432\nlog-level: info\n"), 0o644)
	os.Setenv("SVC_LOG_LEVEL", "debug")
	defer os.Unsetenv("SVC_LOG_LEVEL")

	type Config struct {
		DB struct {
			Host     string
			Port     int
			MaxConns int `etcd:"max-conns"`
		}
		LogLevel string `etcd:"log-level"`
	}
	var defaults Config
	defaults.DB.MaxConns = 10
	w, err := etcdconf.New[Config](ctx, cli, "/svc/",
		etcdconf.WithDefaults(defaults), etcdconf.WithFile(file), etcdconf.WithEnv("SVC"))
	if err != nil {
		log.Fatal(err)
	}
	defer w.Close()
	snap := w.Current()
	for _, p := range []string{"DB.Host", "DB.Port", "DB.MaxConns", "LogLevel"} {
		v, _, _ := etcdconf.Lookup[any](snap, p)
		src := snap.Source(p)
		if strings.HasPrefix(src, "file ") {
			src = "file base.yaml" // the temporary directory varies
		}
		fmt.Printf("%s=%v from %s\n", p, v, src)
	}
	// Output:
	// DB.Host=db.internal from file base.yaml
	// DB.Port=6432 from etcd /svc/db/port@2
	// DB.MaxConns=10 from default
	// LogLevel=debug from env SVC_LOG_LEVEL
}

func ExampleWatcher_Subscribe_paths() {
	srv, cli := exampleEtcd()
	defer srv.Close()
	defer cli.Close()
	ctx := context.Background()

	type Config struct {
		Name string
		DB   struct{ Port int }
	}
	w, err := etcdconf.New[Config](ctx, cli, "/app/")
	if err != nil {
		log.Fatal(err)
	}
	defer w.Close()
	dbOnly := w.Subscribe(ctx, etcdconf.WithPaths("DB"))
	cli.Put(ctx, "/app/name", "ignored by this subscriber")
	cli.Put(ctx, "/app/db/port", "5432")
	u := <-dbOnly
	fmt.Println(u.Changes[0].Path, "->", u.New.Value.DB.Port)
	// Output: DB.Port -> 5432
}

func ExampleRegister() {
	srv, cli := exampleEtcd()
	defer srv.Close()
	defer cli.Close()
	ctx := context.Background()

	// Discovery: every instance under /services/ as a typed map.
	type Instance struct{ Addr string }
	w, err := etcdconf.New[map[string]Instance](ctx, cli, "/services/")
	if err != nil {
		log.Fatal(err)
	}
	defer w.Close()
	updates := w.Subscribe(ctx)

	// Registration: the key lives while this process keeps its lease alive.
	reg, err := etcdconf.Register(ctx, cli, "/services/api-1", Instance{Addr: "10.0.0.1:8080"}, 10*time.Second)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println((<-updates).Changes[0])
	reg.Close() // revokes the lease: the instance is gone at once
	fmt.Println((<-updates).Changes[0])
	// Output:
	// ["api-1"]: added {Addr:10.0.0.1:8080}
	// ["api-1"]: removed (was {Addr:10.0.0.1:8080})
}

func ExampleClientConfigFromEnv() {
	// ETCDCTL_ENDPOINTS, ETCDCTL_USER, ETCDCTL_CACERT, ... as etcdctl reads them.
	cfg, err := etcdconf.ClientConfigFromEnv()
	if err != nil {
		log.Fatal(err)
	}
	cfg.DialTimeout = 3 * time.Second
	cli, err := cfg.Client()
	if errors.Is(err, etcdconf.ErrTLS) {
		log.Fatal("check ETCDCTL_CACERT/ETCDCTL_CERT: ", err)
	}
	if err != nil {
		log.Fatal(err)
	}
	defer cli.Close()
}

// A readiness check: ready while the watcher knows it is current. etcd
// answers the watcher's progress requests even when nothing changes, so a
// healthy watcher on a quiet prefix stays fresh.
func ExampleStatus_Stale() {
	srv, cli := exampleEtcd()
	defer srv.Close()
	defer cli.Close()
	ctx := context.Background()
	type Config struct{ Port int }
	w, err := etcdconf.New[Config](ctx, cli, "/svc/")
	if err != nil {
		log.Fatal(err)
	}
	defer w.Close()

	ready := http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
		if st := w.Status(); st.Stale(time.Now(), 30*time.Second) {
			http.Error(rw, fmt.Sprintf("config stale since %v: %v", st.Confirmed, st.Err), http.StatusServiceUnavailable)
			return
		}
		fmt.Fprintln(rw, "ok")
	})
	rec := httptest.NewRecorder()
	ready.ServeHTTP(rec, httptest.NewRequest("GET", "/readyz", nil))
	fmt.Print(rec.Code, " ", rec.Body.String())
	// Output: 200 ok
}

func ExampleWithSnapshotFile() {
	srv, cli := exampleEtcd()
	defer srv.Close()
	defer cli.Close()
	ctx := context.Background()
	cli.Put(ctx, "/myapp/config/db/port", "5432")
	dir, err := os.MkdirTemp("", "myapp")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)
	type AppConfig struct {
		DB struct{ Port int }
	}
	// A previous run of the service, with etcd up, left the file.
	w, err := etcdconf.New[AppConfig](ctx, cli, "/myapp/config/",
		etcdconf.WithSnapshotFile(filepath.Join(dir, "config.snap")))
	if err != nil {
		log.Fatal(err)
	}
	w.Close()
	srv.Stop() // etcd is down when the service starts again

	w, err = etcdconf.New[AppConfig](ctx, cli, "/myapp/config/",
		etcdconf.WithSnapshotFile(filepath.Join(dir, "config.snap")), // 0600: it holds secrets in the clear
		etcdconf.WithLoadTimeout(2*time.Second))                      // how long to try etcd before the file
	if err != nil {
		log.Fatal(err) // etcd is down and the file is missing or unusable
	}
	defer w.Close()
	fmt.Println("port:", w.Current().Value.DB.Port)
	if st := w.Status(); !st.FromSnapshotFile.IsZero() {
		// Serving the last good configuration; the watcher keeps trying
		// etcd and publishes what changed when it is back.
		fmt.Println("from the snapshot file; connected:", st.Connected)
	}
	// Output:
	// port: 5432
	// from the snapshot file; connected: false
}

// A fleet behind a grpc-proxy proves itself current by one heartbeat that
// every instance sees, instead of a read per instance per interval.
func ExampleHeartbeat() {
	srv, cli := exampleEtcd()
	defer srv.Close()
	defer cli.Close()
	ctx := context.Background()
	cli.Put(ctx, "/myapp/config/db/port", "5432")

	// One process (or several, with HeartbeatElect) writes the heartbeat
	// until its ctx ends; `etcdconf heartbeat /myapp/config/` does the same.
	hctx, stop := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() {
		done <- etcdconf.Heartbeat(hctx, cli, "/myapp/config/", etcdconf.HeartbeatEvery(100*time.Millisecond))
	}()

	// Every instance watches with WithHeartbeat.
	w, err := etcdconf.New[map[string]string](ctx, cli, "/myapp/config/",
		etcdconf.WithHeartbeat(), etcdconf.WithProgressInterval(time.Second))
	if err != nil {
		log.Fatal(err)
	}
	defer w.Close()
	time.Sleep(1500 * time.Millisecond) // a progress interval, and more
	st := w.Status()
	fmt.Println("heartbeat key:", etcdconf.HeartbeatKey("/myapp/config/"))
	fmt.Println("value:", w.Current().Value, "connected:", st.Connected, "reads:", st.Probes)
	stop()
	fmt.Println("writer:", <-done)
	// Output:
	// heartbeat key: /myapp/config0
	// value: map[db/port:5432] connected: true reads: 0
	// writer: <nil>
}
