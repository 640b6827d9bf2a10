//go:build !(linux || darwin || freebsd || netbsd || openbsd || dragonfly)

package etcdconf

import "os"

// lockFile does nothing where flock is not available: only the claim
// within the process guards the file.
func lockFile(*os.File) error { return nil }
