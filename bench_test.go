package etcdconf

import (
	"fmt"
	"testing"

	"github.com/etcdconf/etcdconf/internal/wide"
)

func BenchmarkCurrent(b *testing.B) {
	w := &Watcher[map[string]string]{}
	w.cur.Store(&Snapshot[map[string]string]{Revision: 1})
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if w.Current().Revision != 1 {
				b.Fatal("wrong snapshot")
			}
		}
	})
}

func BenchmarkDecode(b *testing.B) {
	flat := map[string]*KeyValue{}
	for i := range 1000 {
		k := fmt.Sprintf("/app/k%04d", i)
		flat[k] = &KeyValue{Key: k, Value: []byte("value")}
	}
	b.Run("1000 keys into map[string]string", func(b *testing.B) {
		d, _ := newDecoder[map[string]string]("/app/", newOptions(nil))
		b.ReportAllocs()
		for b.Loop() {
			if _, err := d.decode(flat, 1); err != nil {
				b.Fatal(err)
			}
		}
	})
	wideKVs := map[string]*KeyValue{}
	for i := range 1000 {
		k := fmt.Sprintf("/app/f%d", i)
		wideKVs[k] = &KeyValue{Key: k, Value: []byte("7")}
	}
	b.Run("1000-field struct", func(b *testing.B) {
		d, _ := newDecoder[wide.Struct]("/app/", newOptions(nil))
		b.ReportAllocs()
		for b.Loop() {
			if _, err := d.decode(wideKVs, 1); err != nil {
				b.Fatal(err)
			}
		}
	})
}
