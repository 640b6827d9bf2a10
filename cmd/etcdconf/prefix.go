package main

import (
	"fmt"
	"strings"

	planner "github.com/etcdconf/etcdconf/plan"
)

// checkPrefix refuses a prefix that does not end in "/": etcd matches
// prefixes byte by byte, so "/app" also names /apple and /app-secrets/token,
// which apply would write beside and --prune would delete. A prefix that is
// itself a document key (its last segment ends in .yaml, .yml or .json)
// names that one key and is allowed.
func checkPrefix(prefix string) error {
	if strings.HasSuffix(prefix, "/") || isDocumentKey(prefix) {
		return nil
	}
	return fmt.Errorf("prefix %q does not end in \"/\": etcd would match every key starting with %q (%sle, %s-secrets/...), which apply would write beside and --prune would delete; use %q (or a document key ending in .yaml, .yml or .json)",
		prefix, prefix, prefix, prefix, prefix+"/")
}

// isDocumentKey reports whether the prefix is one document key, read and
// written as that single key.
func isDocumentKey(prefix string) bool {
	if strings.HasSuffix(prefix, "/") {
		return false
	}
	last := prefix[strings.LastIndex(prefix, "/")+1:]
	return planner.DocumentExt(last) != ""
}
