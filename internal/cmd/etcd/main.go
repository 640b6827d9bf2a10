// Command etcd is the etcd server of the version this module builds
// against (go.etcd.io/etcd/server/v3), so the process fault tests can run a
// cluster of separate 3.7 processes with no etcd installed. internal/etcdproc
// builds it on demand.
package main

import (
	"os"

	"go.etcd.io/etcd/server/v3/etcdmain"
)

func main() { etcdmain.Main(os.Args) }
