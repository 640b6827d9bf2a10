package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/etcdconf/etcdconf"
	"github.com/etcdconf/etcdconf/release"
	clientv3 "go.etcd.io/etcd/client/v3"
)

var (
	errHelp    = errors.New("help shown")
	errDiffers = errors.New("differences found")
)

// examples are shown by each command's -h.
var examples = map[string]string{
	"get":       "etcdconf get /myapp/config/ -o yaml",
	"diff":      "etcdconf diff /myapp/config/ -f config.yaml   # exit 1 when etcd differs",
	"apply":     "etcdconf apply /myapp/config/ -f config.yaml --prune --yes",
	"watch":     "etcdconf watch /myapp/config/",
	"history":   "etcdconf history /myapp/config/   # --etcd --since 100 for etcd's own history",
	"rollback":  "etcdconf rollback /myapp/config/ --release 3 -m 'back to 3' --dry-run",
	"validate":  "etcdconf validate -f config.yaml --schema config.schema.json   # exit 1 when it does not fit",
	"status":    "etcdconf status /myapp/config/   # exit 1 when an instance rejected the prefix, 4 when one lags",
	"heartbeat": "etcdconf heartbeat /myapp/config/ --interval 4s --elect   # until interrupted",
}

// A command is one invocation: its flags, its prefix and its client.
type command struct {
	name   string
	prefix string
	stdin  io.Reader
	out    io.Writer
	errOut io.Writer // stderr: notes that must not mix with a document on out
	cli    *clientv3.Client

	file   string
	rev    int64
	output string
	dryRun bool
	prune  bool
	yes    bool
	// timeout bounds how long history waits for its watch to catch up.
	timeout time.Duration
	// schema is a JSON Schema file the file must fit (etcdconf.JSONSchema's);
	// strict makes a key it does not have a violation.
	schema string
	strict bool

	// Releases (release.go): where their records are, and what apply and
	// rollback record; history lists them unless etcd (--etcd).
	meta string
	// wait makes apply and rollback wait, up to timeout, for the
	// instances to apply or reject the write; grace is how long status
	// waits for instances that lag.
	wait        bool
	grace       time.Duration
	message     string
	author      string
	noRelease   bool
	release     int64 // rollback --release
	etcd        bool
	pruneBefore int64
	keep        int64

	// heartbeat: how often it writes, and whether as a candidate in an
	// election (its name, and its session's ttl).
	interval time.Duration
	elect    bool
	writer   string
	ttl      time.Duration
}

func (c *command) close() {
	if c.cli != nil {
		c.cli.Close()
	}
}

// parse reads the command's flags (which may follow the prefix) and
// connects to etcd.
func parse(name string, args []string, stdin io.Reader, stdout, stderr io.Writer) (*command, error) {
	c := &command{name: name, stdin: stdin, out: stdout, errOut: stderr}
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	// The connection flags, for every command but validate, which reads no
	// etcd (its -h does not list them, and a bad ETCDCTL_* does not stop it).
	conn := fs
	env, err := etcdconf.ClientConfigFromEnv()
	if name == "validate" {
		conn, env, err = flag.NewFlagSet("", flag.ContinueOnError), etcdconf.ClientConfig{}, nil
	}
	if err != nil {
		return nil, err
	}
	endpoints := conn.String("endpoints", strings.Join(env.Endpoints, ","), "comma-separated etcd endpoints")
	user := conn.String("user", env.Username, "user name, or user:password")
	password := conn.String("password", env.Password, "password")
	cacert := conn.String("cacert", env.CACert, "CA certificate file (enables TLS)")
	cert := conn.String("cert", env.Cert, "client certificate file")
	key := conn.String("key", env.Key, "client key file")
	if env.DialTimeout <= 0 {
		env.DialTimeout = 5 * time.Second
	}
	dialTimeout := conn.Duration("dial-timeout", env.DialTimeout, "dial timeout")
	switch name {
	case "get":
		fs.Int64Var(&c.rev, "rev", 0, "read at this revision (default: now)")
		fs.StringVar(&c.output, "o", "yaml", "output: yaml, json or keys")
	case "diff", "apply":
		fs.StringVar(&c.file, "f", "", "YAML or JSON file (required; - reads standard input)")
		fs.BoolVar(&c.prune, "prune", false, "delete keys under the prefix that the file does not have")
	case "validate":
		fs.StringVar(&c.file, "f", "", "YAML or JSON file (required; - reads standard input)")
	}
	if name == "diff" || name == "apply" || name == "validate" {
		fs.StringVar(&c.schema, "schema", "", "JSON Schema file the file must fit (from etcdconf.JSONSchema)")
		fs.BoolVar(&c.strict, "strict", false, "with --schema: a key the schema does not have is a violation")
	}
	switch name {
	case "history":
		fs.BoolVar(&c.etcd, "etcd", false, "list etcd's own history of the prefix (its revisions, until compacted), not the releases")
		fs.Int64Var(&c.rev, "since", 0, "with --etcd: first revision to list (default: the oldest etcd keeps)")
		fs.DurationVar(&c.timeout, "timeout", 10*time.Second, "with --etcd: how long to wait for etcd to deliver the history up to the current revision")
		fs.Int64Var(&c.pruneBefore, "prune-before", 0, "delete the records of releases before this one (keeping what recovering the rest needs)")
		fs.Int64Var(&c.keep, "keep", 0, "delete the records of all but the last N releases (keeping what recovering them needs)")
	case "rollback":
		fs.Int64Var(&c.rev, "to", 0, "revision to restore, from etcd's history (until compacted)")
		fs.Int64Var(&c.release, "release", 0, "release to restore, from the release records (after any compaction)")
	}
	if name == "apply" || name == "rollback" {
		fs.BoolVar(&c.dryRun, "dry-run", false, "show the changes, write nothing")
		fs.BoolVar(&c.yes, "yes", false, "write without asking")
		fs.StringVar(&c.message, "m", "", "the release's message: why it is made")
		fs.StringVar(&c.author, "author", defaultAuthor(), "the release's author")
		fs.BoolVar(&c.noRelease, "no-release", false, "write without a release record (history shows the write as unrecorded)")
	}
	if name == "apply" || name == "rollback" {
		fs.BoolVar(&c.wait, "wait", false, "after writing, wait until every live instance (etcdconf.WithInstance) applied or rejected it, and print the fleet")
		fs.DurationVar(&c.timeout, "timeout", 30*time.Second, "with --wait: how long to wait for the instances")
	}
	if name == "status" {
		fs.DurationVar(&c.grace, "grace", 10*time.Second, "how long an instance may lag behind the prefix before it counts as lagging")
	}
	if name == "heartbeat" {
		fs.DurationVar(&c.interval, "interval", 4*time.Second, "how often to write; below the watchers' progress interval (etcdconf.WithProgressInterval, default 5s)")
		fs.BoolVar(&c.elect, "elect", false, "campaign with the other heartbeat writers of the prefix that use --elect; only the elected one writes")
		fs.StringVar(&c.writer, "name", "", "this writer's name, in the heartbeat's value and the election (default: host-pid)")
		fs.DurationVar(&c.ttl, "ttl", time.Minute, "with --elect: how long a vanished leader keeps the role (its lease, renewed every ttl/3)")
	}
	if name == "apply" || name == "rollback" || name == "history" || name == "status" || name == "heartbeat" {
		fs.StringVar(&c.meta, "meta-prefix", release.DefaultMeta, "the namespace of etcdconf's metadata, where release and instance records are")
	}
	fs.Usage = func() {
		what := "PREFIX [flags]"
		if name == "validate" {
			what = "-f FILE --schema SCHEMA.json [--strict]"
		}
		fmt.Fprintf(stderr, "Usage: etcdconf %s %s\n\nExample:\n  %s\n\nFlags:\n", name, what, examples[name])
		fs.PrintDefaults()
	}
	// Flags may come before or after the prefix.
	var positional []string
	for len(args) > 0 {
		if err := fs.Parse(args); err != nil {
			if errors.Is(err, flag.ErrHelp) {
				return nil, errHelp
			}
			return nil, err
		}
		if fs.NArg() == 0 {
			break
		}
		positional = append(positional, fs.Arg(0))
		args = fs.Args()[1:]
	}
	if c.strict && c.schema == "" {
		return nil, errors.New("--strict needs --schema")
	}
	if name == "validate" { // a file and a schema: no prefix, no etcd
		switch {
		case len(positional) > 0:
			fs.Usage()
			return nil, fmt.Errorf("validate takes no PREFIX, got %q", positional[0])
		case c.file == "" || c.schema == "":
			return nil, errors.New("-f FILE and --schema SCHEMA.json are required")
		}
		return c, nil
	}
	if len(positional) != 1 || positional[0] == "" {
		fs.Usage()
		return nil, fmt.Errorf("want exactly one PREFIX, got %d arguments", len(positional))
	}
	c.prefix = positional[0]
	if err := checkPrefix(c.prefix); err != nil {
		return nil, err
	}
	if name == "heartbeat" && isDocumentKey(c.prefix) {
		return nil, fmt.Errorf("heartbeat: prefix %q is a document key: its heartbeat key (its range end, %s) would be a key beside it, which another application may hold or read; move the document under a directory of its own and give that directory",
			c.prefix, etcdconf.HeartbeatKey(c.prefix))
	}
	if (name == "diff" || name == "apply") && c.file == "" {
		return nil, errors.New("-f FILE is required")
	}
	if name == "rollback" && (c.rev <= 0) == (c.release <= 0) {
		return nil, errors.New("--to REV or --release N is required, one of them")
	}
	if name == "history" && c.pruneBefore != 0 && c.keep != 0 {
		return nil, errors.New("--prune-before and --keep: give one")
	}
	if name == "history" && (c.pruneBefore < 0 || c.keep < 0) {
		return nil, errors.New("--prune-before and --keep take a positive number")
	}
	if name == "history" && c.rev != 0 {
		c.etcd = true // --since is a revision of etcd's history
	}
	if err := checkRevisionFlag(name, c.rev); err != nil {
		return nil, err
	}
	cfg := etcdconf.ClientConfig{CACert: *cacert, Cert: *cert, Key: *key, DialTimeout: *dialTimeout, Password: *password}
	if *endpoints != "" {
		cfg.Endpoints = strings.Split(*endpoints, ",")
	}
	if u, p, ok := strings.Cut(*user, ":"); ok {
		cfg.Username, cfg.Password = u, p
	} else {
		cfg.Username = u
	}
	// Checked only now, as etcdctl does: ETCDCTL_PASSWORD may wait for
	// --user, ETCDCTL_CERT for --key.
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if c.cli, err = cfg.Client(); err != nil {
		return nil, err
	}
	return c, nil
}

// checkRevisionFlag refuses a negative revision, which etcd would read as
// the current one (get --rev) or the oldest (history --since) without a
// word. (rollback --to is refused below 1 as missing.)
func checkRevisionFlag(name string, rev int64) error {
	if rev >= 0 {
		return nil
	}
	switch name {
	case "get":
		return fmt.Errorf("--rev %d: a revision is a positive number (0 or none: the current revision)", rev)
	case "history":
		return fmt.Errorf("--since %d: a revision is a positive number (0 or none: the oldest etcd keeps)", rev)
	}
	return nil
}

// confirm asks before writing, unless --yes; it refuses when there is no
// terminal to ask on.
func (c *command) confirm(what string) error {
	if c.yes {
		return nil
	}
	if f, ok := c.stdin.(*os.File); !ok || !isTerminal(f) || c.file == "-" {
		return errors.New("not a terminal: pass --yes to write without asking")
	}
	fmt.Fprintf(c.out, "%s? [y/N] ", what)
	var answer string
	fmt.Fscanln(c.stdin, &answer)
	if answer != "y" && answer != "yes" {
		return errors.New("not confirmed; nothing was written")
	}
	return nil
}

func isTerminal(f *os.File) bool {
	st, err := f.Stat()
	return err == nil && st.Mode()&os.ModeCharDevice != 0
}
