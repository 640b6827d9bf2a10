package main

import (
	"testing"

	"github.com/etcdconf/etcdconf/examples/internal/demo"
)

// TestLeavesExistingKeysAlone: see demo.CheckLeavesExistingKeysAlone.
func TestLeavesExistingKeysAlone(t *testing.T) { demo.CheckLeavesExistingKeysAlone(t, run, prefix) }
