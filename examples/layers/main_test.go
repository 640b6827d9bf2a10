package main

import (
	"testing"

	"github.com/etcdconf/etcdconf/examples/internal/demo"
)

func TestLayers(t *testing.T) {
	demo.Check(t, run,
		"DB.Port                  from default",
		"LogLevel                 from env LAYERS_LOG_LEVEL",
		`Features["checkout-v2"]  from etcd /layers/config/features/checkout-v2@`,
		"generation 2: DB.MaxConns: 20 -> 50",
		"DB.MaxConns: 50 -> 80",
		"DB.MaxConns from etcd /layers/config/db/max-conns@",
		"DB.MaxConns: 80 -> 50",
		`no event: LogLevel is still "debug", from env LAYERS_LOG_LEVEL`,
	)
}
