package main

import (
	"context"
	"fmt"

	"github.com/etcdconf/etcdconf"
)

// cmdHeartbeat writes the prefix's heartbeat until interrupted, through
// the library's writer, so the CLI and a service's own writer are one.
func cmdHeartbeat(ctx context.Context, c *command) error {
	opts := []etcdconf.HeartbeatOption{etcdconf.HeartbeatEvery(c.interval)}
	if c.writer != "" {
		opts = append(opts, etcdconf.HeartbeatName(c.writer))
	}
	how := ""
	if c.elect {
		opts = append(opts, etcdconf.HeartbeatElect(c.meta, c.ttl))
		how = " when elected"
	}
	fmt.Fprintf(c.errOut, "writing %s every %v%s, until interrupted\n", etcdconf.HeartbeatKey(c.prefix), c.interval, how)
	return etcdconf.Heartbeat(ctx, c.cli, c.prefix, opts...)
}
