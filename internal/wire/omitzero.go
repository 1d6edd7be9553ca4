package wire

import (
	"bytes"
	"reflect"
	"slices"
	"strings"
	"time"
)

// The JSON library honours omitempty but not omitzero, and writes an
// unset time.Time as the zero date instead of leaving the field out. So
// Encode leaves out, after encoding, every time field tagged omitzero
// whose value is that date: zeroTimeKeys lists their keys per message
// type, found once from the struct tags.
//
// Cutting `"key":"0001-01-01T00:00:00Z"` out of encoded JSON is exact:
// inside a JSON string every '"' is escaped, so `":"` followed by the
// date and an unescaped '"' is a key and its whole value, and the key's
// opening '"' after ',' or '{' starts it. A message type may not carry
// the same key as a time that is always sent (a test checks), or Encode
// could not tell them apart.

// zeroTime is how the JSON library encodes the zero time.Time.
const zeroTime = `"0001-01-01T00:00:00Z"`

// zeroTimeKeys holds, per message type, the keys of the omitzero time
// fields the type carries, nested ones included.
var zeroTimeKeys = func() map[string][]string {
	out := make(map[string][]string)
	for name, mk := range newMessage {
		keys := map[string]bool{}
		omitZeroTimeKeys(reflect.TypeOf(mk()).Elem(), keys, map[reflect.Type]bool{})
		for k := range keys {
			out[name] = append(out[name], k)
		}
	}
	return out
}()

var timeType = reflect.TypeFor[time.Time]()

// omitZeroTimeKeys adds to keys the JSON names of t's omitzero time
// fields, looking into nested structs, pointers, slices and maps.
func omitZeroTimeKeys(t reflect.Type, keys map[string]bool, seen map[reflect.Type]bool) {
	walkFields(t, seen, func(f reflect.StructField) {
		name, opts, _ := strings.Cut(f.Tag.Get("json"), ",")
		if f.Type == timeType && hasOption(opts, "omitzero") {
			keys[name] = true
		}
	})
}

// walkFields calls visit with every field JSON sees in t and in the
// types it holds (structs, pointers, slices, arrays, maps), each type
// once; a time.Time is a value, not a struct to look into.
func walkFields(t reflect.Type, seen map[reflect.Type]bool, visit func(reflect.StructField)) {
	switch t.Kind() {
	case reflect.Pointer, reflect.Slice, reflect.Array, reflect.Map:
		walkFields(t.Elem(), seen, visit)
		return
	case reflect.Struct:
	default:
		return
	}
	if t == timeType || seen[t] {
		return
	}
	seen[t] = true
	for f := range fieldsOf(t) {
		visit(f)
		walkFields(f.Type, seen, visit)
	}
}

// fieldsOf yields t's exported fields as JSON sees them: an embedded
// struct without a tag contributes its own fields.
func fieldsOf(t reflect.Type) func(yield func(reflect.StructField) bool) {
	return func(yield func(reflect.StructField) bool) {
		for i := range t.NumField() {
			f := t.Field(i)
			if !f.IsExported() || f.Tag.Get("json") == "-" {
				continue
			}
			if f.Anonymous && f.Tag.Get("json") == "" && f.Type.Kind() == reflect.Struct {
				for g := range fieldsOf(f.Type) {
					if !yield(g) {
						return
					}
				}
				continue
			}
			if !yield(f) {
				return
			}
		}
	}
}

func hasOption(opts, want string) bool {
	for o := range strings.SplitSeq(opts, ",") {
		if o == want {
			return true
		}
	}
	return false
}

// dropZeroTimes removes from body, in place, each field named in keys
// whose value is the zero time, with the comma that joined it. It looks
// for the date by its 'Z', which is rare in JSON outside times: a search
// for the whole field cost more than encoding the message.
func dropZeroTimes(body []byte, keys []string) []byte {
	if len(keys) == 0 {
		return body
	}
	for i := 0; i < len(body); {
		j := bytes.IndexByte(body[i:], 'Z')
		if j < 0 {
			break
		}
		z := i + j // the date's last byte
		i = z + 1
		start := z + 1 - (len(zeroTime) - 1) // the value's opening '"'
		if start < 3 || z+1 >= len(body) || body[z+1] != '"' || string(body[start:z+1]) != zeroTime[:len(zeroTime)-1] ||
			body[start-1] != ':' || body[start-2] != '"' {
			continue
		}
		k := bytes.LastIndexByte(body[:start-2], '"') // the key's opening '"'
		if k < 1 || !slices.Contains(keys, string(body[k+1:start-2])) {
			continue
		}
		end := z + 2
		switch body[k-1] {
		case ',':
			k--
		case '{':
			if end < len(body) && body[end] == ',' {
				end++
			}
		default:
			continue
		}
		body = append(body[:k], body[end:]...)
		i = k
	}
	return body
}
