package conformance

import (
	"bufio"
	"bytes"
	stdjson "encoding/json"
	"go/ast"
	"go/parser"
	"go/token"
	"os"
	"reflect"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	"switchboard/internal/wire"
)

const protocolPage = "../../docs/protocol.md"

// page is docs/protocol.md, read once per test.
func page(t *testing.T) string {
	t.Helper()
	b, err := os.ReadFile(protocolPage)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// codeBlocks returns the bodies of the page's fenced blocks of a language.
func codeBlocks(doc, lang string) []string {
	var out []string
	var cur *strings.Builder
	for _, line := range strings.Split(doc, "\n") {
		switch {
		case cur == nil && line == "```"+lang:
			cur = &strings.Builder{}
		case cur != nil && line == "```":
			out = append(out, cur.String())
			cur = nil
		case cur != nil:
			cur.WriteString(line + "\n")
		}
	}
	return out
}

// TestJSONExamplesAreMessages: every JSON example on the page is a
// message of its type, or an Agent or Command, with only fields the Go
// types have, and of the types they have.
func TestJSONExamplesAreMessages(t *testing.T) {
	n := 0
	for _, block := range codeBlocks(page(t), "json") {
		dec := stdjson.NewDecoder(strings.NewReader(block))
		for dec.More() {
			var raw stdjson.RawMessage
			if err := dec.Decode(&raw); err != nil {
				t.Fatalf("a JSON example is not JSON: %v\n%s", err, block)
			}
			n++
			checkExample(t, raw)
		}
	}
	if n < 8 {
		t.Fatalf("found %d JSON examples on the page", n)
	}
}

func checkExample(t *testing.T, raw []byte) {
	t.Helper()
	var head struct {
		Type string `json:"type"`
	}
	_ = stdjson.Unmarshal(raw, &head)
	var into any
	switch {
	case head.Type != "":
		m, err := wire.Decode(raw)
		if err != nil {
			t.Errorf("example %s: %v", raw, err)
			return
		}
		into = reflect.New(reflect.TypeOf(m).Elem()).Interface()
		raw = withoutType(t, raw)
	case bytes.Contains(raw, []byte(`"agent_id"`)):
		into = new(wire.Command)
	default:
		into = new(wire.Agent)
	}
	dec := stdjson.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	if err := dec.Decode(into); err != nil {
		t.Errorf("example %s does not fit %T: %v", raw, into, err)
	}
}

func withoutType(t *testing.T, raw []byte) []byte {
	var m map[string]stdjson.RawMessage
	if err := stdjson.Unmarshal(raw, &m); err != nil {
		t.Fatal(err)
	}
	delete(m, "type")
	b, _ := stdjson.Marshal(m)
	return b
}

var backticked = regexp.MustCompile("`([^`]+)`")

// TestMessageTablesNameEveryField: each message type has a row in the
// page's message tables (hello in Handshake), and its row names every
// field the message has.
func TestMessageTablesNameEveryField(t *testing.T) {
	rows := map[string]string{} // type -> its fields cell
	sc := bufio.NewScanner(strings.NewReader(page(t)))
	for sc.Scan() {
		cells := strings.Split(sc.Text(), "|")
		if len(cells) < 5 || !strings.Contains(cells[2], "relay") {
			continue // not a row of a type | direction | fields table
		}
		for _, m := range backticked.FindAllStringSubmatch(cells[1], -1) {
			rows[m[1]] += cells[3]
		}
	}
	rows[wire.TypeHello] = "`protocol` `client` `token` `agent` `holding`" // the Handshake and Agent messages sections
	for name, mk := range wireTypes() {
		cell, ok := rows[name]
		if !ok {
			t.Errorf("message %q has no row in the page's message tables", name)
			continue
		}
		named := map[string]bool{}
		for _, m := range backticked.FindAllStringSubmatch(cell, -1) {
			named[m[1]] = true
		}
		for _, f := range jsonFields(reflect.TypeOf(mk).Elem()) {
			if !named[f] && !documentedElsewhere(name, f) {
				t.Errorf("the row of %q does not name its field %q", name, f)
			}
		}
	}
}

// documentedElsewhere lists fields a row refers to as a whole ("the
// command fields", "as for dashboards") rather than one by one.
func documentedElsewhere(typ, field string) bool {
	spec := []string{"argv", "shell", "cwd", "env", "cols", "rows", "timeout_ms"}
	switch {
	case typ == wire.TypeRun && slices.Contains(spec, field):
		return true
	case typ == wire.TypeWelcome && field != "resume":
		return true // in Handshake
	}
	return false
}

// wireTypes is a value of every message type, by name.
func wireTypes() map[string]wire.Message {
	out := map[string]wire.Message{}
	for _, m := range []wire.Message{&wire.Hello{}, &wire.Welcome{}} {
		out[m.MessageType()] = m
	}
	for name := range wireNames() {
		m, err := wire.Decode([]byte(`{"type":"` + name + `"}`))
		if err == nil {
			out[name] = m
		}
	}
	return out
}

// wireNames reads the Type* constants of internal/wire.
func wireNames() map[string]bool {
	return stringConsts("Type")
}

// stringConsts reads internal/wire's string constants whose names start
// with prefix.
func stringConsts(prefix string) map[string]bool {
	out := map[string]bool{}
	fset := token.NewFileSet()
	for _, file := range []string{"../wire/wire.go", "../wire/messages.go", "../wire/attention.go"} {
		f, err := parser.ParseFile(fset, file, nil, 0)
		if err != nil {
			continue
		}
		ast.Inspect(f, func(n ast.Node) bool {
			vs, ok := n.(*ast.ValueSpec)
			if !ok || len(vs.Values) != 1 {
				return true
			}
			lit, ok := vs.Values[0].(*ast.BasicLit)
			if ok && lit.Kind == token.STRING && strings.HasPrefix(vs.Names[0].Name, prefix) {
				v, _ := strconv.Unquote(lit.Value)
				out[v] = true
			}
			return true
		})
	}
	return out
}

// jsonFields are the JSON names of a struct's fields, embedded ones
// flattened.
func jsonFields(t reflect.Type) []string {
	var out []string
	for i := range t.NumField() {
		f := t.Field(i)
		name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
		if f.Anonymous && name == "" {
			out = append(out, jsonFields(f.Type)...)
			continue
		}
		if f.IsExported() && name != "-" && name != "" {
			out = append(out, name)
		}
	}
	return out
}

// TestErrorCodesTableIsTheCodes: the page's error code table lists
// exactly the codes internal/wire defines.
func TestErrorCodesTableIsTheCodes(t *testing.T) {
	var listed []string
	in := false
	sc := bufio.NewScanner(strings.NewReader(page(t)))
	for sc.Scan() {
		line := sc.Text()
		if strings.HasPrefix(line, "## ") {
			in = line == "## Error codes"
		}
		if m := regexp.MustCompile("^\\| `([a-z_]+)` \\|").FindStringSubmatch(line); in && m != nil {
			listed = append(listed, m[1])
		}
	}
	var codes []string
	for c := range stringConsts("Code") {
		codes = append(codes, c)
	}
	slices.Sort(listed)
	slices.Sort(codes)
	if !slices.Equal(listed, codes) {
		t.Fatalf("the page lists error codes %v; internal/wire has %v", listed, codes)
	}
}
