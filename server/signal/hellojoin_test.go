package signal

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/stagekit/stagekit/protocol"
	"github.com/stagekit/stagekit/server/auth"
	"github.com/stagekit/stagekit/stage"
)

// BenchmarkHelloJoin is a viewer's arrival, server and client in this
// process: the upgrade, hello and join over a real WebSocket, the
// connection then left open (the room grows as the benchmark runs; no
// count broadcast within it). Its allocations per viewer are the figure to
// compare between two versions: unlike its time, they do not depend on how
// busy the machine is.
func BenchmarkHelloJoin(b *testing.B) {
	fa := &fakeAuth{ids: map[string]auth.Identity{}}
	h := NewHub(Config{Auth: fa, Grace: time.Minute, CountInterval: time.Hour, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	srv := httptest.NewServer(h)
	defer func() { h.Close(); srv.Close() }()
	url := "ws" + strings.TrimPrefix(srv.URL, "http")
	hellos := make([][]byte, b.N)
	for i := range hellos {
		tok := "tok-" + itoa(uint64(i))
		fa.ids[tok] = auth.Identity{MeetingID: mid, UserID: "u-" + itoa(uint64(i)), Name: "V", Preset: stage.BuiltinPresets()[stage.PresetWebinarViewer]}
		hellos[i], _ = json.Marshal(protocol.ClientMessage{V: protocol.Version, ID: 1, Type: protocol.TypeHello, Token: tok})
	}
	join, _ := json.Marshal(protocol.ClientMessage{V: protocol.Version, ID: 2, Type: protocol.TypeJoin})
	ctx := context.Background()
	open := make([]*websocket.Conn, 0, b.N)
	defer func() {
		for _, ws := range open {
			ws.CloseNow()
		}
	}()
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		ws, _, err := websocket.Dial(ctx, url, nil)
		if err != nil {
			b.Fatal(err)
		}
		open = append(open, ws)
		for _, m := range [][]byte{hellos[i], join} {
			if err := ws.Write(ctx, websocket.MessageText, m); err != nil {
				b.Fatal(err)
			}
			if _, res, err := ws.Read(ctx); err != nil || !strings.HasPrefix(string(res), `{"type":"result"`) {
				b.Fatalf("%s %v", res, err)
			}
		}
	}
}
