package wire

import (
	"bufio"
	stdjson "encoding/json"
	"os"
	"reflect"
	"regexp"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"
)

// stdEncode is Encode with encoding/json, which honours omitzero: the
// reference for what the struct tags mean.
func stdEncode(t *testing.T, m Message) map[string]any {
	t.Helper()
	b, err := stdjson.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	return decodeObject(t, b, m.MessageType())
}

func decodeObject(t *testing.T, b []byte, typ string) map[string]any {
	t.Helper()
	var obj map[string]any
	if err := stdjson.Unmarshal(b, &obj); err != nil {
		t.Fatalf("%s: %v in %s", typ, err, b)
	}
	obj["type"] = typ
	return obj
}

// fill sets every field of v: times to at (or leaves them zero when at is
// zero), and everything else to a value that is not empty.
func fill(v reflect.Value, at time.Time) {
	switch v.Kind() {
	case reflect.String:
		v.SetString("x\"<é>Z")
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		v.SetInt(7)
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		v.SetUint(7)
	case reflect.Bool:
		v.SetBool(true)
	case reflect.Pointer:
		p := reflect.New(v.Type().Elem())
		fill(p.Elem(), at)
		v.Set(p)
	case reflect.Slice:
		s := reflect.MakeSlice(v.Type(), 2, 2)
		fill(s.Index(0), at)
		fill(s.Index(1), at)
		v.Set(s)
	case reflect.Map:
		m := reflect.MakeMap(v.Type())
		k, e := reflect.New(v.Type().Key()).Elem(), reflect.New(v.Type().Elem()).Elem()
		fill(k, at)
		fill(e, at)
		m.SetMapIndex(k, e)
		v.Set(m)
	case reflect.Struct:
		if v.Type() == timeType {
			v.Set(reflect.ValueOf(at))
			return
		}
		for i := range v.NumField() {
			if v.Type().Field(i).IsExported() {
				fill(v.Field(i), at)
			}
		}
	}
}

// TestEncodeOmitsLikeEncodingJSON encodes every message type, empty, full
// with unset times, and full with times set: what Encode writes means what
// encoding/json writes, omitzero times included.
func TestEncodeOmitsLikeEncodingJSON(t *testing.T) {
	at := time.Date(2026, 11, 26, 5, 0, 0, 123456789, time.UTC)
	for name, mk := range newMessage {
		for _, variant := range []string{"empty", "unset times", "set times"} {
			m := mk()
			switch variant {
			case "unset times":
				fill(reflect.ValueOf(m).Elem(), time.Time{})
			case "set times":
				fill(reflect.ValueOf(m).Elem(), at)
			}
			got := MustEncode(m)
			if want := stdEncode(t, m); !reflect.DeepEqual(decodeObject(t, got, name), want) {
				t.Errorf("%s (%s):\n Encode:        %s\n encoding/json: %v", name, variant, got, want)
			}
		}
	}
}

// TestOmitZeroIsForTimesThatEncodeCanFind: the JSON library honours only
// omitempty, and Encode adds omitzero for times alone; and no message type
// may carry a key both as an omitzero time and as a time always sent.
func TestOmitZeroIsForTimesThatEncodeCanFind(t *testing.T) {
	for name, mk := range newMessage {
		always, optional := map[string]bool{}, map[string]bool{}
		walkFields(reflect.TypeOf(mk()).Elem(), map[reflect.Type]bool{}, func(f reflect.StructField) {
			key, opts, _ := strings.Cut(f.Tag.Get("json"), ",")
			switch {
			case hasOption(opts, "omitzero") && f.Type != timeType:
				t.Errorf("%s: field %s is omitzero but not a time.Time: Encode cannot leave it out", name, f.Name)
			case f.Type == timeType && hasOption(opts, "omitzero"):
				optional[key] = true
			case f.Type == timeType:
				always[key] = true
			}
		})
		for k := range optional {
			if always[k] {
				t.Errorf("%s carries %q both as an omitzero time and as a time always sent", name, k)
			}
		}
	}
}

// TestAbsentFieldsAsDocumented: for every object in docs/protocol.md's
// "Absent fields" table, an empty value is sent with exactly the fields
// the table lists; and every message type has its row.
func TestAbsentFieldsAsDocumented(t *testing.T) {
	rows := absentFieldsTable(t)
	nested := map[string]func() (Message, func(map[string]any) map[string]any){
		"Agent":   func() (Message, func(map[string]any) map[string]any) { return &AgentEvent{}, field("agent") },
		"Command": func() (Message, func(map[string]any) map[string]any) { return &CommandEvent{}, field("command") },
		"audit entry": func() (Message, func(map[string]any) map[string]any) {
			return &AuditResult{Entries: []AuditEntry{{}}}, first("entries")
		},
		"targets": func() (Message, func(map[string]any) map[string]any) { return &Run{}, field("targets") },
		"holding entry": func() (Message, func(map[string]any) map[string]any) {
			return &Hello{Holding: []HeldCommand{{}}}, first("holding")
		},
		"resume entry": func() (Message, func(map[string]any) map[string]any) {
			return &Welcome{Resume: []Ack{{}}}, first("resume")
		},
		"search hit": func() (Message, func(map[string]any) map[string]any) {
			return &SearchResult{Hits: []SearchHit{{}}}, first("hits")
		},
	}
	for name := range newMessage {
		if _, ok := rows[name]; !ok {
			t.Errorf("message %q has no row in the Absent fields table of docs/protocol.md", name)
		}
	}
	for object, want := range rows {
		var obj map[string]any
		if mk, ok := newMessage[object]; ok {
			m := mk()
			obj = decodeObject(t, MustEncode(m), object)
			delete(obj, "type")
		} else if get := nested[object]; get != nil {
			m, pick := get()
			obj = pick(decodeObject(t, MustEncode(m), m.MessageType()))
		} else {
			t.Errorf("the Absent fields table has a row for %q, which is no message or object the test knows", object)
			continue
		}
		var got []string
		for k := range obj {
			got = append(got, k)
		}
		sort.Strings(got)
		if !slices.Equal(got, want) {
			t.Errorf("%s: sent when empty: %v; docs/protocol.md says %v", object, got, want)
		}
	}
}

func field(key string) func(map[string]any) map[string]any {
	return func(o map[string]any) map[string]any { m, _ := o[key].(map[string]any); return m }
}

func first(key string) func(map[string]any) map[string]any {
	return func(o map[string]any) map[string]any {
		l, _ := o[key].([]any)
		if len(l) == 0 {
			return nil
		}
		m, _ := l[0].(map[string]any)
		return m
	}
}

// absentFieldsTable reads the "Absent fields" table: object name to the
// sorted fields sent even when zero. A row may name several objects.
func absentFieldsTable(t *testing.T) map[string][]string {
	t.Helper()
	f, err := os.Open("../../docs/protocol.md")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	code := regexp.MustCompile("`([^`]+)`")
	rows := map[string][]string{}
	in := false
	for sc := bufio.NewScanner(f); sc.Scan(); {
		line := sc.Text()
		switch {
		case strings.HasPrefix(line, "### Absent fields"):
			in = true
		case in && strings.HasPrefix(line, "#"):
			in = false
		case in && strings.HasPrefix(line, "| ") && !strings.HasPrefix(line, "| object") && !strings.HasPrefix(line, "| ---"):
			cells := strings.Split(line, "|")
			var fields []string
			for _, m := range code.FindAllStringSubmatch(cells[2], -1) {
				fields = append(fields, m[1])
			}
			sort.Strings(fields)
			name := strings.TrimSpace(cells[1])
			if names := code.FindAllStringSubmatch(name, -1); len(names) > 0 && !strings.Contains(name, " entry") {
				for _, n := range names {
					rows[n[1]] = fields
				}
			} else {
				rows[strings.ReplaceAll(name, "`", "")] = fields
			}
		}
	}
	if len(rows) == 0 {
		t.Fatal("docs/protocol.md has no Absent fields table")
	}
	return rows
}

// TestDropZeroTimesOnlyCutsFields: a zero time is cut where it is a
// field, first, last or alone, and never out of a string that quotes one.
func TestDropZeroTimesOnlyCutsFields(t *testing.T) {
	fields := []string{"started_at"}
	z := zeroTime
	for in, want := range map[string]string{
		`{"started_at":` + z + `}`:                                      `{}`,
		`{"started_at":` + z + `,"a":1}`:                                `{"a":1}`,
		`{"a":1,"started_at":` + z + `}`:                                `{"a":1}`,
		`{"a":{"started_at":` + z + `},"b":[{"started_at":` + z + `}]}`: `{"a":{},"b":[{}]}`,
		`{"reason":"\"started_at\":\"0001-01-01T00:00:00Z\""}`:          `{"reason":"\"started_at\":\"0001-01-01T00:00:00Z\""}`,
		`{"reason":"x,\"started_at\":` + z[:len(z)-1] + `\""}`:          `{"reason":"x,\"started_at\":` + z[:len(z)-1] + `\""}`,
	} {
		if got := string(dropZeroTimes([]byte(in), fields)); got != want {
			t.Errorf("dropZeroTimes(%s) = %s, want %s", in, got, want)
		}
	}
}
