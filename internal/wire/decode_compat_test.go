package wire

import (
	"bytes"
	stdjson "encoding/json"
	"errors"
	"os"
	"strings"
	"testing"
)

// stdDecode is Decode with encoding/json, for comparison.
func stdDecode(data []byte) (Message, error) {
	var head struct {
		Type *string `json:"type"`
	}
	if err := stdjson.Unmarshal(data, &head); err != nil || head.Type == nil {
		return nil, os.ErrInvalid
	}
	mk, ok := newMessage[*head.Type]
	if !ok {
		return nil, os.ErrInvalid
	}
	m := mk()
	if err := stdjson.Unmarshal(data, m); err != nil {
		return nil, err
	}
	return m, nil
}

// TestDecodeAgreesWithEncodingJSON: Decode (github.com/segmentio/encoding,
// for speed) accepts and refuses what encoding/json does, with the same
// values, on inputs where JSON decoders are known to differ.
func TestDecodeAgreesWithEncodingJSON(t *testing.T) {
	for _, s := range []string{
		`{"type":"subscribe","command_id":"c\xff\xfe","offset":5}`,
		`{"type":"subscribe","command_id":"a","command_id":"b"}`,
		`{"type":"subscribe","Command_ID":"x","OFFSET":7}`,
		`{"type":"subscribe","offset":1e400}`,
		`{"type":"subscribe","offset":1.5}`,
		`{"type":"subscribe","offset":-0}`,
		`{"type":"subscribe","offset":null,"command_id":null}`,
		`{"type":"subscribe"} x`,
		`{"type":"subscribe"}{}`,
		`{"type":"subscribe","command_id":"\ud800"}`,
		`{"type":"subscribe","command_id":"\u0000"}`,
		`{"type":"run","targets":{"agents":["a"]},"argv":["ls"],"env":{"A":"1","A":"2"}}`,
		`{"type":"run","argv":"ls"}`,
		`{"type":"resize","command_id":"c","cols":70000}`,
		`{"type":"subscribe","offset":"5"}`,
		` {"type":"subscribe","offset":5}`,
		`{"type":"subscribe","offset":5,}`,
		`{"type":"hello","protocol":1,"agent":{"labels":{"k":1}}}`,
		`{"type":"subscribe","command_id":"` + strings.Repeat("[", 100) + `"}`,
		"{\"type\":\"subscribe\",\"command_id\":\"c\xff\xfe\",\"offset\":5}", // invalid UTF-8 becomes U+FFFD
		"{\"type\":\"run\",\"argv\":[\"echo\",\"\xc3\"]}",
		"{\"type\":\"subscribe\",\"command_id\":\"tab\there\"}", // a raw control character
	} {
		data := []byte(s)
		a, aerr := Decode(data)
		b, berr := stdDecode(data)
		if (aerr == nil) != (berr == nil) {
			t.Errorf("err mismatch on %.80q: segmentio %v, std %v", data, aerr, berr)
			continue
		}
		if aerr == nil {
			ea, _ := stdjson.Marshal(a)
			eb, _ := stdjson.Marshal(b)
			if !bytes.Equal(ea, eb) {
				t.Errorf("value mismatch on %.80q:\n seg %s\n std %s", data, ea, eb)
			}
		}
	}
}

// TestDecodeDeepNesting: a message nested deeper than MaxDepth is refused
// as malformed, brackets inside strings do not count, and one nested a
// million deep costs no more than a scan.
func TestDecodeDeepNesting(t *testing.T) {
	nested := func(n int) []byte {
		return []byte(`{"type":"subscribe","x":` + strings.Repeat("[", n) + strings.Repeat("]", n) + `}`)
	}
	if _, err := Decode(nested(MaxDepth - 1)); err != nil {
		t.Errorf("%d levels: %v", MaxDepth, err)
	}
	for _, n := range []int{MaxDepth, (MaxMessageSize - 40) / 2} {
		if _, err := Decode(nested(n)); !errors.Is(err, ErrBadMessage) || !strings.Contains(err.Error(), "nested deeper") {
			t.Errorf("%d levels: %v; want a malformed-message error about nesting", n+1, err)
		}
	}
	quoted := `{"type":"subscribe","command_id":"` + strings.Repeat(`[{\"`, 100) + `"}`
	if m, err := Decode([]byte(quoted)); err != nil || len(m.(*Subscribe).CommandID) != 300 {
		t.Errorf("brackets and escaped quotes in a string: %v", err)
	}
}
