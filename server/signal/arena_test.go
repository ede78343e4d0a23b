package signal

import (
	"bytes"
	"strings"
	"testing"

	"github.com/mailru/easyjson"
	"github.com/mailru/easyjson/jwriter"
)

// text is a payload of any size for eventLog.encode.
type text string

func (s text) MarshalEasyJSON(w *jwriter.Writer) { w.String(string(s)) }

// An event log's payloads share its arena: each must stay what it encoded
// however the others fit (in the tail, straddling it, larger than a whole
// arena) and whatever other writers draw from easyjson's pool meanwhile
// (the arena must never be handed to that pool), and appending to one must
// not write over the next.
func TestEventLogArena(t *testing.T) {
	var l eventLog
	sizes := []int{9000, 10, 500, 1000, 7000, 100, 20000, 3, 8190, 1, 4096, 600}
	var vals []text
	var got [][]byte
	for i, n := range sizes {
		v := text(strings.Repeat(string(rune('a'+i)), n))
		got, vals = append(got, l.encode(v.MarshalEasyJSON)), append(vals, v)
		for _, m := range []int{600, 3000, 10000} {
			if _, err := easyjson.Marshal(text(strings.Repeat("z", m))); err != nil {
				t.Fatal(err)
			}
		}
	}
	for i := range got {
		_ = append(got[i], `,"overwritten"`...)
	}
	for i, v := range vals {
		want, err := easyjson.Marshal(v)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got[i], want) {
			t.Errorf("payload %d (%d bytes) changed: got %d bytes starting %.20q", i, sizes[i], len(got[i]), got[i])
		}
	}
}

// Event ids come from random bytes read several ids at a time: each id
// is "evt_" and 24 hex digits, and none repeats within a log (across
// refills) or between logs.
func TestEventIDs(t *testing.T) {
	seen := map[string]bool{}
	for range 3 {
		var l eventLog
		for range 5*len(l.random)/idBytes + 3 {
			id := l.nextID()
			if len(id) != len("evt_")+2*idBytes || !strings.HasPrefix(id, "evt_") || strings.Trim(id[len("evt_"):], "0123456789abcdef") != "" {
				t.Fatalf("id %q", id)
			}
			if seen[id] {
				t.Fatalf("id %q twice", id)
			}
			seen[id] = true
		}
	}
}
