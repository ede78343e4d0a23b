package rest_test

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"github.com/stagekit/stagekit/server/auth"
	"github.com/stagekit/stagekit/server/config"
	"github.com/stagekit/stagekit/server/rest"
	"github.com/stagekit/stagekit/server/signal"
	"github.com/stagekit/stagekit/server/store"
)

// fuzzRoutes are the routes this issue added, with where the fuzz input
// goes: the body, the query, and a header or path part.
var fuzzRoutes = []struct{ method, path string }{
	{"POST", "/v1/meetings/{mid}/stage/grant"},
	{"POST", "/v1/meetings/{mid}/stage/kick"},
	{"PUT", "/v1/meetings/{mid}/stage/limits"},
	{"GET", "/v1/meetings/{mid}/stage/events"},
	{"POST", "/v1/meetings/{mid}/active-session/kick"},
	{"POST", "/v1/webhooks"},
	{"GET", "/v1/webhooks/{part}/deliveries"},
	{"POST", "/v1/presets"},
	{"PUT", "/v1/presets/{part}"},
}

// FuzzNewRoutes sends arbitrary bodies, queries, Idempotency-Keys and path
// parts to the new routes, against a real store and a real signaling hub:
// every answer is the API's JSON, a refusal has a code, and nothing is
// answered 5xx (a crash would be answered 5000).
func FuzzNewRoutes(f *testing.F) {
	f.Add(uint8(0), []byte(`{"user_ids":["a"],"custom_participant_ids":["b"]}`), "after=1&limit=2", "key-1")
	f.Add(uint8(2), []byte(`{"max_on_stage":3,"request_timeout_seconds":60}`), "", "")
	f.Add(uint8(3), []byte(``), "after=-1&limit=99999", "")
	f.Add(uint8(5), []byte(`{"url":"https://example.com/h","events":["*"]}`), "", "")
	f.Add(uint8(7), []byte(`{"name":"p","config":{"view_type":"WEBINAR"},"permissions":{"stage_access":"ALLOWED","media":{"audio":{"can_produce":"NOT_ALLOWED"}}}}`), "", "p")
	f.Add(uint8(8), []byte(`{"name":"webinar_viewer","stage_access":"NOT_ALLOWED"}`), "", "webinar_viewer")
	st, err := store.Open(f.TempDir())
	if err != nil {
		f.Fatal(err)
	}
	defer st.Close()
	presets := config.BuiltinPresets()
	au, err := auth.New(context.Background(), auth.Options{Store: st, Presets: presets})
	if err != nil {
		f.Fatal(err)
	}
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	hub := signal.NewHub(signal.Config{Auth: au, Logger: quiet})
	defer hub.Close()
	api, err := rest.New(rest.Options{APIKey: key, Store: st, Tokens: au, Presets: presets, Rooms: hub, Members: hub, Control: hub, Logger: quiet})
	if err != nil {
		f.Fatal(err)
	}
	m, err := st.CreateMeeting(context.Background(), "fuzz")
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, route uint8, body []byte, query, part string) {
		rt := fuzzRoutes[int(route)%len(fuzzRoutes)]
		path := strings.ReplaceAll(rt.path, "{mid}", m.ID)
		path = strings.ReplaceAll(path, "{part}", url.PathEscape(part))
		req := httptest.NewRequest(rt.method, "/", strings.NewReader(string(body)))
		req.URL.Path, req.URL.RawQuery = path, url.QueryEscape(query)
		if q, err := url.ParseQuery(query); err == nil {
			req.URL.RawQuery = q.Encode()
		}
		req.Header.Set("Authorization", "Bearer "+key)
		req.Header.Set("Idempotency-Key", strings.ToValidUTF8(strings.Map(func(r rune) rune {
			if r < ' ' || r == 0x7f {
				return -1
			}
			return r
		}, part), ""))
		rec := httptest.NewRecorder()
		api.ServeHTTP(rec, req)
		var out struct {
			Success bool
			Error   *struct{ Code int }
		}
		if err := json.Unmarshal(rec.Body.Bytes(), &out); err != nil {
			t.Fatalf("%s %s: not JSON: %d %q", rt.method, path, rec.Code, rec.Body.Bytes())
		}
		if rec.Code >= 500 {
			t.Fatalf("%s %s %q: %d %s", rt.method, path, body, rec.Code, rec.Body.Bytes())
		}
		if rec.Code >= 400 && (out.Error == nil || out.Error.Code == 0 || out.Success) {
			t.Fatalf("%s %s: %d without a coded error: %s", rt.method, path, rec.Code, rec.Body.Bytes())
		}
	})
}
