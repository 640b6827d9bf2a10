// Package flagprovider is an OpenFeature provider (github.com/open-feature/go-sdk)
// that evaluates flagd flag definitions held in etcd, in process, and
// follows their changes live.
//
// [New] loads a prefix with the root package's watcher (its recovery,
// liveness, snapshot file, logger and observer: see [WithWatcherOptions])
// and parses the keys itself:
//
//   - a key whose name ends in .json, .yaml or .yml holds a whole flagd
//     flag-definition document ("flags", "$evaluators", "metadata"), the
//     file flagd reads; its "$evaluators" apply within it, its "metadata"
//     is the flag-set metadata of its flags;
//   - the key "$evaluators" at the prefix root holds the evaluators of the
//     single-flag keys;
//   - any other key holds one flag's definition, JSON or YAML; its last
//     segment is the flag key.
//
// Evaluation follows flagd's in-process evaluator: JSONLogic targeting with
// fractional (flagd's v2 bucketing), sem_ver, starts_with, ends_with, $ref
// and the $flagd.flagKey and $flagd.timestamp properties; reasons STATIC,
// TARGETING_MATCH, DEFAULT, DISABLED and ERROR. Rules are compiled once per
// applied revision.
//
// Faults:
//
//   - a key that does not parse or has the wrong shape, or two keys
//     defining one flag, reject the revision: the last good flag set stays,
//     PROVIDER_ERROR is sent, and READY when a good revision applies;
//   - a flag without variants, with a defaultVariant that is not one, with
//     targeting that does not compile or a $ref to a missing evaluator,
//     answers the caller's default with PARSE_ERROR; the others load;
//   - a DISABLED flag answers the caller's default, reason DISABLED;
//   - no defaultVariant and no targeting match: the caller's default,
//     reason DEFAULT;
//   - an unknown flag: FLAG_NOT_FOUND.
//
// Events: CONFIGURATION_CHANGED for every applied change, its FlagChanges
// the flags whose definition, $ref'd evaluator or flag-set metadata
// changed; STALE while the watcher is not connected (nothing proved it
// current for three progress intervals, see [etcdconf.WithProgressInterval],
// or it serves its snapshot file), READY when it is again; PROVIDER_ERROR
// for a rejected revision, never PROVIDER_FATAL. The provider hears of
// all this through an [etcdconf.Observer] of its own; sends on its event
// channel never block, and a reader that falls behind gets the newest
// state.
//
// The root package's [etcdconf.Flag] is a typed on/off and percentage flag
// inside a configuration struct; this provider is the OpenFeature API across
// a codebase. Their percentage buckets differ: moving a rollout from one to
// the other reshuffles who is in it.
package flagprovider
