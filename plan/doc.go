// Package plan plans writing a configuration file to an etcd prefix the
// way the etcdconf library reads it, with no Go type: the operator CLI's
// diff, apply and rollback compare and write through it.
//
// Its model of the keys, the one the library's decoder has for any type:
//
//   - keys equal under the library's loose field matching (case, "-" and
//     "_") are one key: a change is written to the key that holds the value
//     now, never beside it under another spelling;
//   - a value held as one JSON or YAML value (a plain key holding a JSON
//     object, a .yaml, .yml or .json document key) is compared as that
//     structure where the file has a mapping at its path, and a change
//     inside it rewrites that key in place;
//   - a plan that writes is checked first: a key set the library would not
//     decode (a value and keys under it at one path, two spellings of one
//     key, a document that does not parse) is refused, as a [*CheckError]
//     naming the keys.
//
// [Tree] with [YAML] or [JSON] prints a prefix's keys as a file that plans
// back as no change (a document's scalars as written, one spelling of each
// path), or refuses a key it would rename.
//
// The plan's operations are unguarded: the caller guards the whole prefix
// by the revision it read (one compare on the prefix's range).
package plan
