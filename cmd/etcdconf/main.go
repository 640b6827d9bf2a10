// Command etcdconf edits configuration stored in etcd as files: it shows a
// prefix as one document, applies a YAML or JSON file to a prefix in one
// guarded transaction, shows diffs, watches changes, lists history and
// rolls back, with the same key layout as the etcdconf library.
//
//	etcdconf get /myapp/config/
//	etcdconf apply /myapp/config/ -f config.yaml
//	etcdconf rollback /myapp/config/ --release 3
//
// apply and rollback record each write as a release (who, when, why, the
// keys changed) in the same transaction, under /_etcdconf/releases/;
// history lists the releases from those records, which etcd's compaction
// leaves alone, and rollback --release restores one.
//
// Exit codes: 0 success; 1 differences found (diff), or a file that does
// not fit its schema (validate); 2 usage, connection or
// other errors; 3 a conflicting concurrent change (nothing was written, or, for
// a key another client deleted meanwhile, written and reported); 4 an
// instance rejected the state (apply --wait) or lags behind it (status); 5
// an instance did not answer in time (apply --wait). status exits 1 when an
// instance rejected the prefix's state.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
)

const (
	exitOK       = 0
	exitDiffers  = 1
	exitError    = 2
	exitConflict = 3
)

var errConflict = errors.New("a key changed since it was read; nothing was written: run the command again")

const usage = `etcdconf: edit configuration stored in etcd as files

Usage:
  etcdconf get PREFIX [--rev N] [-o yaml|json|keys]
  etcdconf diff PREFIX -f FILE [--prune] [--schema SCHEMA.json [--strict]]
  etcdconf apply PREFIX -f FILE [-m MESSAGE] [--author NAME] [--dry-run] [--prune] [--yes] [--schema SCHEMA.json [--strict]]
  etcdconf watch PREFIX
  etcdconf history PREFIX [--prune-before N | --keep N]
  etcdconf history PREFIX --etcd [--since REV] [--timeout 10s]
  etcdconf rollback PREFIX (--release N | --to REV) [-m MESSAGE] [--author NAME] [--dry-run] [--yes]
  etcdconf validate -f FILE --schema SCHEMA.json [--strict]
  etcdconf status PREFIX [--grace 10s]
  etcdconf heartbeat PREFIX [--interval 4s] [--elect [--name NAME] [--ttl 1m]]

status lists the instances that watch PREFIX with etcdconf.WithInstance and
whether each applied the prefix's state: exit 0 when all did, 1 when one
rejected it, 4 when one still lags after --grace. apply and rollback with
--wait wait (up to --timeout) for every instance to apply or reject the
write: exit 4 when one rejected it, 5 when one did not answer in time.

heartbeat writes PREFIX's heartbeat key (the prefix's range end: /app0 for
/app/) every --interval until interrupted, for the watchers that use
etcdconf.WithHeartbeat: through a grpc-proxy they then prove themselves
current with no read of their own. With --elect, several writers campaign and
one writes; another takes over when it stops. PREFIX must end in "/" (not a
document key: its range end would be a key beside it). Exit 0 when
interrupted, 2 when etcd refuses the user or PREFIX.

validate checks a file against a JSON Schema written by etcdconf.JSONSchema,
without etcd; diff and apply with --schema refuse a file that does not fit it
(exit 2, nothing written). --strict makes a key the schema does not have a
violation, as the library's WithStrict makes it an error.

Releases: apply and rollback write, in the transaction of the change, a
release record (number, time, author, message, the keys changed with their
old and new values, digests of the key set) under --meta-prefix (default
/_etcdconf/); --no-release writes without one. history lists the releases,
and writes made without a record between them, after any compaction;
history --etcd lists etcd's own revisions instead. rollback --release N
restores release N's keys, except keys with a lease (registrations, TTL
overrides), which belong to live processes.

Connection flags (every command but validate), as etcdctl names them, defaulting to the
ETCDCTL_* environment variables, then 127.0.0.1:2379:
  --endpoints, --user (user or user:password), --password, --cacert, --cert,
  --key, --dial-timeout

Keys map to a document as the library decodes them: "db/port" is db: {port: ...},
and a key ending .yaml/.yml/.json holds a document merged at its path.

Exit codes: 0 success, 1 differences (diff), violations (validate) or an instance that
rejected the prefix (status), 2 error, 3 conflict (nothing written, or a key another client
deleted meanwhile, which the message names), 4 an instance rejected the write (apply --wait)
or lags (status), 5 an instance did not answer in time (apply --wait).
Run "etcdconf COMMAND -h" for a command's flags and an example.
`

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	os.Exit(run(ctx, os.Args[1:], os.Stdin, os.Stdout, os.Stderr))
}

// run executes one command and returns the exit code.
func run(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" || args[0] == "help" {
		fmt.Fprint(stdout, usage)
		if len(args) == 0 {
			return exitError
		}
		return exitOK
	}
	cmds := map[string]func(context.Context, *command) error{
		"get": cmdGet, "diff": cmdDiff, "apply": cmdApply, "watch": cmdWatch, "history": cmdHistory, "rollback": cmdRollback,
		"validate": cmdValidate, "status": cmdStatus, "heartbeat": cmdHeartbeat,
	}
	fn, ok := cmds[args[0]]
	if !ok {
		fmt.Fprintf(stderr, "etcdconf: unknown command %q\n\n%s", args[0], usage)
		return exitError
	}
	c, err := parse(args[0], args[1:], stdin, stdout, stderr)
	if errors.Is(err, errHelp) {
		return exitOK
	}
	if err != nil {
		fmt.Fprintf(stderr, "etcdconf %s: %v\n", args[0], err)
		return exitError
	}
	defer c.close()
	err = fn(ctx, c)
	switch {
	case err == nil:
		return exitOK
	case errors.Is(err, errDiffers), errors.Is(err, errRejected):
		return exitDiffers
	case errors.Is(err, errLagging), errors.Is(err, errWaitRejected):
		fmt.Fprintf(stderr, "etcdconf %s: %v\n", args[0], err)
		return exitLagging
	case errors.Is(err, errNoAnswer):
		fmt.Fprintf(stderr, "etcdconf %s: %v\n", args[0], err)
		return exitNoAnswer
	case errors.Is(err, errConflict):
		fmt.Fprintf(stderr, "etcdconf %s: %v\n", args[0], err)
		return exitConflict
	}
	fmt.Fprintf(stderr, "etcdconf %s: %v\n", args[0], err)
	return exitError
}
