package rtgen

import (
	"fmt"
	"reflect"
	"time"
)

// Common and Meta are embedded in the struct types Type generates: an
// embedded struct and an embedded pointer, one with a secret field.
type Common struct {
	Region string
	Zone   int
}

type Meta struct {
	Labels map[string]string
	Token  string `etcd:"token,secret"`
}

var scalars = []reflect.Type{
	reflect.TypeFor[string](), reflect.TypeFor[int](), reflect.TypeFor[bool](),
	reflect.TypeFor[float64](), reflect.TypeFor[time.Duration](),
}

// Type generates a struct type of one to five fields, nesting structs,
// pointers, slices and maps (string and int keys) up to depth levels, and
// embedding Common or *Meta now and then; some fields are tagged, some
// secret. Its fields hold no NaN and no interface, so values compare with
// reflect.DeepEqual.
func (g Gen) Type(depth int) reflect.Type {
	var fields []reflect.StructField
	if g.N(3) == 0 {
		fields = append(fields, reflect.StructField{Name: "Common", Type: reflect.TypeFor[Common](), Anonymous: true})
	}
	if g.N(3) == 0 {
		fields = append(fields, reflect.StructField{Name: "Meta", Type: reflect.TypeFor[*Meta](), Anonymous: true})
	}
	for i := range 1 + g.N(5) {
		f := reflect.StructField{Name: fmt.Sprintf("F%d", i), Type: g.fieldType(depth)}
		switch g.N(5) {
		case 0:
			f.Tag = reflect.StructTag(fmt.Sprintf(`etcd:"f-%d"`, i))
		case 1:
			f.Tag = `etcd:",secret"`
		}
		fields = append(fields, f)
	}
	return reflect.StructOf(fields)
}

func (g Gen) fieldType(depth int) reflect.Type {
	if depth <= 0 {
		return scalars[g.N(len(scalars))]
	}
	switch g.N(8) {
	case 0:
		return g.Type(depth - 1)
	case 1:
		return reflect.PointerTo(g.Type(depth - 1))
	case 2:
		return reflect.SliceOf(g.fieldType(depth - 1))
	case 3:
		return reflect.MapOf(reflect.TypeFor[string](), g.fieldType(depth-1))
	case 4:
		return reflect.MapOf(reflect.TypeFor[int](), g.fieldType(depth-1))
	}
	return scalars[g.N(len(scalars))]
}

// Value generates a value of t, a type from Type: nil and empty maps,
// slices and pointers among the rest, and few distinct scalars, so two
// values often share parts.
func (g Gen) Value(t reflect.Type) reflect.Value {
	v := reflect.New(t).Elem()
	switch t.Kind() {
	case reflect.String:
		v.SetString([]string{"", "a", "b"}[g.N(3)])
	case reflect.Int, reflect.Int64:
		v.SetInt(int64(g.N(3)))
	case reflect.Bool:
		v.SetBool(g.N(2) == 0)
	case reflect.Float64:
		v.SetFloat([]float64{0, 1.5, -2}[g.N(3)])
	case reflect.Pointer:
		if g.N(3) > 0 {
			v.Set(reflect.New(t.Elem()))
			v.Elem().Set(g.Value(t.Elem()))
		}
	case reflect.Struct:
		for i := range t.NumField() {
			if t.Field(i).IsExported() {
				v.Field(i).Set(g.Value(t.Field(i).Type))
			}
		}
	case reflect.Slice:
		if n := g.N(4); n > 0 || g.N(2) == 0 {
			v.Set(reflect.MakeSlice(t, n, n))
			for i := range n {
				v.Index(i).Set(g.Value(t.Elem()))
			}
		}
	case reflect.Map:
		if n := g.N(4); n > 0 || g.N(2) == 0 {
			v.Set(reflect.MakeMap(t))
			for range n {
				v.SetMapIndex(g.Value(t.Key()), g.Value(t.Elem()))
			}
		}
	}
	return v
}
