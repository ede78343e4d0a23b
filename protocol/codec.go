package protocol

import (
	"github.com/mailru/easyjson/jlexer"
	"github.com/mailru/easyjson/jwriter"
)

// The generated file must not import easyjson's root package: that imports
// net/http, which would add ~390 KB brotli to the browser SDK.
//go:generate go run github.com/mailru/easyjson/easyjson -all -no_std_marshalers -output_filename protocol_easyjson.go protocol.go
//go:generate sed -i -e /easyjson\x20"github.com\/mailru\/easyjson"$/d -e /_\x20easyjson.Marshaler$/d protocol_easyjson.go

// The clients write ClientMessages and read ServerMessages with easyjson's
// generated code (protocol_easyjson.go) rather than encoding/json's
// reflection. In the browser the first reflective decode of a ServerMessage
// took 15–24 ms of a cold start, against 2.5–6 ms for the generated one.
// The generated code has no MarshalJSON/UnmarshalJSON methods, so
// encoding/json is unchanged where it is still used. The server writes its
// messages with EncodeServer; codec_test.go checks that the two read and
// write the same.

// EncodeClient writes m as the client sends it.
func EncodeClient(m ClientMessage) ([]byte, error) {
	var w jwriter.Writer
	m.MarshalEasyJSON(&w)
	return w.BuildBytes()
}

// EncodeServer writes m as encoding/json does (byte for byte but for the
// escapes of control characters, codec_test.go), without its reflection:
// the server writes its events and answers with it.
func EncodeServer(m ServerMessage) ([]byte, error) {
	var w jwriter.Writer
	m.MarshalEasyJSON(&w)
	return w.BuildBytes()
}

// DecodeServer reads a message from the server into m.
func DecodeServer(data []byte, m *ServerMessage) error {
	l := jlexer.Lexer{Data: data}
	m.UnmarshalEasyJSON(&l)
	return l.Error()
}
