// Package rtgen generates the values the round-trip property test
// (tests/write_roundtrip_test.go) and FuzzRoundTrip write and read back,
// and the random struct types (Gen.Type) and values of them (Gen.Value)
// that path properties run over.
package rtgen

import (
	"math"
	"net/netip"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
)

type Inner struct {
	Host   string
	Port   int
	Weight float64
	On     bool
}

type Server struct {
	Name string `etcd:"name"`
	Tags []string
}

type Config struct {
	Name     string
	Password string `etcd:"password,secret"`
	DB       Inner
	Limits   *Inner
	Timeout  time.Duration
	At       time.Time
	Addr     netip.Addr // a TextUnmarshaler
	Tags     []string
	Ports    []int
	Servers  []Server
	Services map[string]Inner
	Labels   map[string]string
	Blob     []byte // any bytes: a []byte is exempt from UTF-8
}

// Equal is the property's equality: cmp.Equal, with nil and empty maps
// and slices one value (etcd cannot tell them apart) and NaN equal to NaN.
func Equal(a, b Config) bool { return cmp.Equal(a, b, Options...) }

var Options = cmp.Options{cmpopts.EquateEmpty(), cmpopts.EquateNaNs(), cmpopts.EquateComparable(netip.Addr{})}

// Gen generates Config values from n, which returns a number in
// [0, k). tame keeps to what any writer stores safely (a start state);
// otherwise strings and keys take every awkward form, some of which
// Update must refuse.
type Gen struct {
	N    func(k int) int
	Tame bool
}

func (g Gen) str() string {
	tame := []string{"", "a", "b c", "x,y", "API-1", "api-1", "é", "1.10", "true", "2024-01-01"}
	wild := []string{" a", "a ", "\nfoo", "\tfoo\nbar", "[x", "a,b", "\x01", "\u0085", "\ufeff", "\u2028", "- x", "a: b", "#c", "null", "~", "\"q\"", "\\", "'", "\xff", "é\xfe"}
	if g.Tame || g.N(2) == 0 {
		return tame[g.N(len(tame))]
	}
	if g.N(4) == 0 { // a random string from a few odd bytes
		b := make([]byte, g.N(6))
		const odd = " ,\n\t[]{}:#\"'\\a\x00\x7f\xc3\xa9\xff"
		for i := range b {
			b[i] = odd[g.N(len(odd))]
		}
		return string(b)
	}
	return wild[g.N(len(wild))]
}

func (g Gen) key() string {
	keys := []string{"a", "b", "API-1", "api-1", "x_y", "é"}
	if !g.Tame && g.N(8) == 0 {
		return []string{"b/c", "", "a.yaml", "\xff", " "}[g.N(5)]
	}
	return keys[g.N(len(keys))]
}

func (g Gen) float() float64 {
	fs := []float64{0, 1.5, -2, 1e21, 0.1}
	if !g.Tame && g.N(6) == 0 {
		return []float64{math.NaN(), math.Inf(1), math.Inf(-1), math.SmallestNonzeroFloat64}[g.N(4)]
	}
	return fs[g.N(len(fs))]
}

func (g Gen) inner() Inner {
	return Inner{Host: g.str(), Port: g.N(3) * 5432, Weight: g.float(), On: g.N(2) == 0}
}

func (g Gen) strs() []string {
	switch g.N(4) {
	case 0:
		return nil
	case 1:
		return []string{}
	}
	s := make([]string, 1+g.N(3))
	for i := range s {
		s[i] = g.str()
	}
	return s
}

// Config generates one value.
func (g Gen) Config() Config {
	var c Config
	if g.N(2) == 0 {
		c.Name = g.str()
	}
	if g.N(2) == 0 {
		c.Password = g.str()
	}
	if g.N(2) == 0 {
		c.DB = g.inner()
	}
	if g.N(2) == 0 {
		l := g.inner()
		c.Limits = &l
	}
	c.Timeout = time.Duration(g.N(3)) * 1500 * time.Millisecond
	if g.N(2) == 0 {
		c.At = time.Date(2024, 1, 1+g.N(28), g.N(24), 0, 0, g.N(3)*123456789, time.FixedZone("", 3600*(g.N(5)-2)))
	}
	if g.N(2) == 0 {
		c.Addr = netip.AddrFrom4([4]byte{10, 0, 0, byte(g.N(256))})
	}
	c.Tags = g.strs()
	if g.N(2) == 0 {
		c.Ports = []int{g.N(100), g.N(100)}
	}
	for range g.N(3) {
		c.Servers = append(c.Servers, Server{Name: g.str(), Tags: g.strs()})
	}
	if n := g.N(4); n > 0 {
		c.Services = map[string]Inner{}
		for range n {
			c.Services[g.key()] = g.inner()
		}
	}
	if n := g.N(4); n > 0 {
		c.Labels = map[string]string{}
		for range n {
			c.Labels[g.key()] = g.str()
		}
	}
	switch g.N(3) {
	case 0:
		c.Blob = []byte(g.str())
	case 1:
		if !g.Tame {
			c.Blob = []byte{0xff, byte(g.N(256)), 0, ','}
		}
	}
	return c
}
