package release

import (
	"bytes"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"slices"
	"time"
	"unicode/utf8"
)

// A Record is one release: what changed, who made it and why, and the
// digests that chain it to the release before. It is stored as JSON under
// [Log.RecordKey]; Revision is not in the JSON but read from the record
// key's CreateRevision, which is the revision the release's transaction
// produced.
type Record struct {
	Release  int64     `json:"release"`
	Time     time.Time `json:"time"`
	Author   Text      `json:"author"`
	Message  Text      `json:"message,omitempty"`
	Revision int64     `json:"-"`
	// From is the digest of the key set the release started from; Digest
	// the key set after it (see [Digest]). A From that differs from the
	// previous release's Digest means the prefix was written in between
	// without a record.
	From   string `json:"from"`
	Digest string `json:"digest"`
	// Rollback is the release whose key set this release restored (0: none).
	Rollback int64 `json:"rollback,omitempty"`
	// Full is the number of chunks of this release's full record (0: it
	// wrote none); Base is the latest release at or before this one that
	// wrote one, Chain the bytes of the records since Base (this one
	// included). They decide when the next full record is due.
	Full  int   `json:"full,omitempty"`
	Base  int64 `json:"base"`
	Chain int64 `json:"chain"`
	// Changes are the keys the release changed, in key order.
	Changes []Change `json:"changes"`
}

// A Change is one key a release changed: Old and New are its value in the
// key set before and after the release, nil when it is not in it. A key
// with a lease (a registration, a TTL override) is in no key set: it
// belongs to the process that keeps its lease alive; Leased marks a key
// the release left with a lease (its New is nil).
type Change struct {
	Key    Text  `json:"key"`
	Old    *Text `json:"old,omitempty"`
	New    *Text `json:"new,omitempty"`
	Leased bool  `json:"leased,omitempty"`
}

// Text is a key or value as etcd holds it: any bytes. It is a JSON string
// when it is UTF-8, and {"base64": "..."} when it is not, so that a record
// reads back byte for byte.
type Text string

// MarshalJSON implements json.Marshaler.
func (t Text) MarshalJSON() ([]byte, error) {
	if utf8.ValidString(string(t)) {
		return marshal(string(t))
	}
	return marshal(map[string]string{"base64": base64.StdEncoding.EncodeToString([]byte(t))})
}

// UnmarshalJSON implements json.Unmarshaler.
func (t *Text) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err == nil {
		*t = Text(s)
		return nil
	}
	var m struct {
		Base64 *string `json:"base64"`
	}
	if err := json.Unmarshal(b, &m); err != nil || m.Base64 == nil {
		return fmt.Errorf("release: a text is a string or {\"base64\": ...}, not %s", b)
	}
	raw, err := base64.StdEncoding.DecodeString(*m.Base64)
	if err != nil {
		return fmt.Errorf("release: %w", err)
	}
	*t = Text(raw)
	return nil
}

// TextOf returns a pointer to s as a Text, for Change.Old and New.
func TextOf(s string) *Text {
	t := Text(s)
	return &t
}

// marshal is json.Marshal without HTML escaping (values keep their < > &),
// and without the trailing newline.
func marshal(v any) ([]byte, error) {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return nil, err
	}
	return bytes.TrimSuffix(b.Bytes(), []byte("\n")), nil
}

// Encode returns the record as it is stored.
func (r *Record) Encode() ([]byte, error) { return marshal(r) }

// Decode reads a record as [Record.Encode] wrote it.
func Decode(b []byte) (*Record, error) {
	var r Record
	if err := json.Unmarshal(b, &r); err != nil {
		return nil, fmt.Errorf("release: record: %w", err)
	}
	if r.Release <= 0 {
		return nil, errors.New("release: record has no release number")
	}
	return &r, nil
}

// Digest returns the digest of a key set (keys relative to the prefix):
// SHA-256 over the keys in order, each key and value length-prefixed, so
// two key sets have one digest only if they are equal.
func Digest(keys map[string]string) string {
	h := sha256.New()
	var n [binary.MaxVarintLen64]byte
	for _, k := range slices.Sorted(maps.Keys(keys)) {
		v := keys[k]
		h.Write(n[:binary.PutUvarint(n[:], uint64(len(k)))])
		h.Write([]byte(k))
		h.Write(n[:binary.PutUvarint(n[:], uint64(len(v)))])
		h.Write([]byte(v))
	}
	return "sha256:" + hex.EncodeToString(h.Sum(nil))
}

// Apply returns keys with the record's changes made:
// the key set after the release, given the one it started from.
func (r *Record) Apply(keys map[string]string) map[string]string {
	out := maps.Clone(keys)
	if out == nil {
		out = map[string]string{}
	}
	for _, c := range r.Changes {
		if c.New == nil {
			delete(out, string(c.Key))
		} else {
			out[string(c.Key)] = string(*c.New)
		}
	}
	return out
}

// A chunk is one part of a full record: some of the key set, in key order.
type chunk struct {
	Release int64     `json:"release"`
	Chunk   int       `json:"chunk"`
	Of      int       `json:"of"`
	Keys    [][2]Text `json:"keys"`
}

// chunks splits a key set into encoded chunks of about size bytes at most
// (a chunk holds at least one key, however long).
func chunks(n int64, keys map[string]string, size int) ([][]byte, error) {
	var parts []*chunk
	cur, bytes := &chunk{Release: n}, 0
	for _, k := range slices.Sorted(maps.Keys(keys)) {
		v := keys[k]
		if len(cur.Keys) > 0 && bytes+len(k)+len(v)+8 > size {
			parts, cur, bytes = append(parts, cur), &chunk{Release: n}, 0
		}
		cur.Keys = append(cur.Keys, [2]Text{Text(k), Text(v)})
		bytes += len(k) + len(v) + 8
	}
	parts = append(parts, cur) // an empty key set is one empty chunk
	out := make([][]byte, len(parts))
	for i, p := range parts {
		p.Chunk, p.Of = i, len(parts)
		b, err := marshal(p)
		if err != nil {
			return nil, err
		}
		out[i] = b
	}
	return out, nil
}
