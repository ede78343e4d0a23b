package protocol

import "strconv"

// decodePlain reads the plainest messages as the SDK writes them, without
// encoding/json: exactly {"v":N,"id":N,"type":"WORD"} or
// {"v":N,"id":N,"type":"WORD","token":"TOKEN"}, numbers without sign or
// leading zero, WORD of lower-case letters and '_', TOKEN of base64url
// letters and '.' (no escapes). A hello is one: its decoding by
// encoding/json (and the stack that grew in each new connection's
// goroutine for it) was a twentieth of an edge's CPU for a join. Anything
// else is false, for encoding/json to read. FuzzDecodePlain: what this
// reads, encoding/json reads the same.
func decodePlain(data []byte) (ClientMessage, bool) {
	var m ClientMessage
	rest, ok := cutPrefix(data, `{"v":`)
	if !ok {
		return m, false
	}
	var v, id uint64
	if v, rest, ok = plainNumber(rest, 63); !ok {
		return m, false
	}
	if rest, ok = cutPrefix(rest, `,"id":`); !ok {
		return m, false
	}
	if id, rest, ok = plainNumber(rest, 64); !ok {
		return m, false
	}
	if rest, ok = cutPrefix(rest, `,"type":"`); !ok {
		return m, false
	}
	typ, rest, ok := plainString(rest, func(c byte) bool { return c >= 'a' && c <= 'z' || c == '_' })
	if !ok {
		return m, false
	}
	var token []byte
	if after, ok := cutPrefix(rest, `,"token":"`); ok {
		if token, rest, ok = plainString(after, isTokenByte); !ok || len(token) == 0 {
			return m, false
		}
	}
	if string(rest) != "}" {
		return m, false
	}
	m.V, m.ID, m.Type, m.Token = int(v), id, string(typ), string(token)
	return m, true
}

func cutPrefix(b []byte, prefix string) ([]byte, bool) {
	if len(b) < len(prefix) || string(b[:len(prefix)]) != prefix {
		return b, false
	}
	return b[len(prefix):], true
}

// plainNumber reads decimal digits (no leading zero) that fit in bits.
func plainNumber(b []byte, bits int) (uint64, []byte, bool) {
	n := 0
	for n < len(b) && b[n] >= '0' && b[n] <= '9' {
		n++
	}
	if n == 0 || n > 1 && b[0] == '0' {
		return 0, b, false
	}
	v, err := strconv.ParseUint(string(b[:n]), 10, bits)
	if err != nil {
		return 0, b, false
	}
	return v, b[n:], true
}

// plainString reads bytes that pass ok up to a closing quote.
func plainString(b []byte, ok func(byte) bool) ([]byte, []byte, bool) {
	for i, c := range b {
		if c == '"' {
			return b[:i], b[i+1:], true
		}
		if !ok(c) {
			return nil, b, false
		}
	}
	return nil, b, false
}

func isTokenByte(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_' || c == '.'
}
