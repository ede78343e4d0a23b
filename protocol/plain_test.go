package protocol

import (
	"bytes"
	"encoding/json"
	"reflect"
	"testing"
)

// jsonDecode is DecodeClient's encoding/json reading of a message.
func jsonDecode(data []byte) (ClientMessage, bool) {
	var m ClientMessage
	dec := json.NewDecoder(bytes.NewReader(data))
	if dec.Decode(&m) != nil || len(bytes.TrimLeft(data[dec.InputOffset():], jsonSpace)) > 0 {
		return m, false
	}
	return m, true
}

// checkPlain: what decodePlain reads, encoding/json reads the same.
func checkPlain(t *testing.T, in string) bool {
	t.Helper()
	got, ok := decodePlain([]byte(in))
	if !ok {
		return false
	}
	want, jok := jsonDecode([]byte(in))
	if !jok {
		t.Errorf("%s: read plainly; encoding/json refuses it", in)
	} else if !reflect.DeepEqual(got, want) {
		t.Errorf("%s:\n got %+v\nwant %+v", in, got, want)
	}
	return true
}

func TestDecodePlain(t *testing.T) {
	hello, _ := EncodeClient(ClientMessage{V: Version, ID: 1, Type: TypeHello, Token: "eyJh.eyJt-_0.sig"})
	join, _ := EncodeClient(ClientMessage{V: Version, ID: 2, Type: TypeJoin})
	ping, _ := EncodeClient(ClientMessage{V: Version, ID: 18446744073709551615, Type: TypePing})
	for _, tc := range []struct {
		in    string
		plain bool
	}{
		{string(hello), true},
		{string(join), true},
		{string(ping), true},
		{`{"v":1,"id":0,"type":""}`, true},
		{`{"v":0,"id":1,"type":"stage_request"}`, true},
		{`{"v":1,"id":1,"type":"hello","token":""}`, false},
		{`{"v":1,"id":1,"type":"hello","token":"a\"b"}`, false},
		{`{"v":1,"id":1,"type":"hello","token":"a\u0041"}`, false},
		{`{"v":1,"id":1,"type":"join","name":"x"}`, false},
		{`{"v":1,"id":1,"type":"join","token":"x","name":"x"}`, false},
		{`{"v":1,"id":18446744073709551616,"type":"ping"}`, false},
		{`{"v":9223372036854775808,"id":1,"type":"ping"}`, false},
		{`{"v":01,"id":1,"type":"ping"}`, false},
		{`{"v":-1,"id":1,"type":"ping"}`, false},
		{`{"v":1.0,"id":1,"type":"ping"}`, false},
		{`{"v":1,"id":1,"type":"Ping"}`, false},
		{`{"v":1,"id":1,"type":"ping"} `, false},
		{`{"v":1,"id":1,"type":"ping"}}`, false},
		{` {"v":1,"id":1,"type":"ping"}`, false},
		{`{"id":1,"v":1,"type":"ping"}`, false},
		{`{"V":1,"id":1,"type":"ping"}`, false},
		{`{"v":1,"id":1,"type":"ping"`, false},
		{`{"v":1,"id":1,"type":"ping","v":2}`, false},
	} {
		if got := checkPlain(t, tc.in); got != tc.plain {
			t.Errorf("%s: read plainly %v, want %v", tc.in, got, tc.plain)
		}
		// DecodeClient answers as it did with encoding/json alone.
		m, perr := DecodeClient([]byte(tc.in))
		want, wantErr := decodeClientJSON([]byte(tc.in))
		if !reflect.DeepEqual(m, want) || !reflect.DeepEqual(perr, wantErr) {
			t.Errorf("%s: DecodeClient %+v %v; with encoding/json alone %+v %v", tc.in, m, perr, want, wantErr)
		}
	}
}

// decodeClientJSON is DecodeClient without the plain path.
func decodeClientJSON(data []byte) (ClientMessage, *ErrorBody) {
	return decodeClient(data, false)
}

func FuzzDecodePlain(f *testing.F) {
	for _, s := range []string{
		`{"v":1,"id":1,"type":"hello","token":"eyJh.eyJt-_0.sig"}`,
		`{"v":1,"id":2,"type":"join"}`,
		`{"v":1,"id":3,"type":"join","name":"x"}`,
		`{"v":1,"id":99999999999999999999,"type":"ping"}`,
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, in string) {
		checkPlain(t, in)
	})
}

// BenchmarkDecodeHello: a hello decoded in a new goroutine, as a new
// connection's goroutine does (its stack grows with the decoder's).
func BenchmarkDecodeHello(b *testing.B) {
	hello, _ := EncodeClient(ClientMessage{V: Version, ID: 1, Type: TypeHello, Token: "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJtaWQiOiJtZWV0aW5nIiwiaXNzIjoic3RhZ2VraXQiLCJzdWIiOiJwIn0.c2lnbmF0dXJlc2lnbmF0dXJlc2lnbmF0dXJlc2ln"})
	for _, path := range []struct {
		name  string
		plain bool
	}{{"encoding-json", false}, {"plain", true}} {
		b.Run(path.name, func(b *testing.B) {
			b.ReportAllocs()
			done := make(chan struct{})
			for b.Loop() {
				go func() {
					if _, perr := decodeClient(hello, path.plain); perr != nil {
						b.Error(perr)
					}
					done <- struct{}{}
				}()
				<-done
			}
		})
	}
}
