package demo_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/stagekit/stagekit/internal/testserver"
	"github.com/stagekit/stagekit/server/app"
	"github.com/stagekit/stagekit/server/rest"
	"github.com/stagekit/stagekit/stage"
)

type answer struct {
	status int
	header http.Header
	raw    []byte
}

func post(t *testing.T, url, path, body string) answer {
	t.Helper()
	res, err := http.Post(url+path, "application/json", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	raw, _ := io.ReadAll(res.Body)
	return answer{res.StatusCode, res.Header, raw}
}

// wantError checks the status and the coded JSON error body.
func (a answer) wantError(t *testing.T, status, code int) {
	t.Helper()
	var body struct {
		Success *bool `json:"success"`
		Error   struct {
			Code    int    `json:"code"`
			Message string `json:"message"`
		} `json:"error"`
	}
	if a.status != status || json.Unmarshal(a.raw, &body) != nil || body.Error.Code != code ||
		body.Error.Message == "" || body.Success == nil || *body.Success {
		t.Errorf("answer %d %s, want %d with code %d", a.status, a.raw, status, code)
	}
}

type created struct {
	MeetingID     string `json:"meetingId"`
	CreatorSecret string `json:"creatorSecret"`
	Links         []struct {
		Preset string `json:"preset"`
		UserID string `json:"userId"`
		URL    string `json:"url"`
	} `json:"links"`
}

func createDemo(t *testing.T, url string) created {
	t.Helper()
	a := post(t, url, "/demo/api/meetings", "{}")
	var c created
	if a.status != http.StatusCreated || json.Unmarshal(a.raw, &c) != nil || c.MeetingID == "" || len(c.Links) != 5 {
		t.Fatalf("create demo meeting: %d %s", a.status, a.raw)
	}
	return c
}

func startDemo(t *testing.T) *testserver.Server {
	return testserver.StartConfig(t, app.Config{DemoMode: true})
}

func participants(t *testing.T, s *testserver.Server, meetingID string) int {
	t.Helper()
	var list []json.RawMessage
	if err := testserver.Do(s.URL, "GET", "/v1/meetings/"+meetingID+"/participants", nil, 200, &list); err != nil {
		t.Fatal(err)
	}
	return len(list)
}

func TestDemoRefusesMeetingsItDidNotCreate(t *testing.T) {
	s := startDemo(t)
	adminMeeting, err := testserver.CreateMeeting(s.URL, "made through the admin API")
	if err != nil {
		t.Fatal(err)
	}
	demo := createDemo(t, s.URL)
	for _, secret := range []string{"", demo.CreatorSecret} {
		body := `{"name":"M","preset":"webinar_host","creatorSecret":"` + secret + `"}`
		post(t, s.URL, "/demo/api/meetings/"+adminMeeting+"/participants", body).wantError(t, 404, rest.CodeMeetingNotFound)
	}
	post(t, s.URL, "/demo/api/meetings/no-such-meeting/participants", `{"name":"M","preset":"webinar_viewer"}`).
		wantError(t, 404, rest.CodeMeetingNotFound)
	if n := participants(t, s, adminMeeting); n != 0 {
		t.Errorf("the admin meeting got %d participants from the demo API", n)
	}
}

func TestDemoLinksNeedTheCreatorSecret(t *testing.T) {
	s := startDemo(t)
	demo := createDemo(t, s.URL)
	other := createDemo(t, s.URL)
	if len(demo.CreatorSecret) < 40 || strings.Contains(demo.CreatorSecret, demo.MeetingID) || demo.CreatorSecret == other.CreatorSecret {
		t.Fatalf("creator secrets %q and %q for meeting %s", demo.CreatorSecret, other.CreatorSecret, demo.MeetingID)
	}
	path := "/demo/api/meetings/" + demo.MeetingID + "/participants"
	for name, secret := range map[string]string{
		"no secret":                      "",
		"the meeting id":                 demo.MeetingID,
		"another demo meeting's secret":  other.CreatorSecret,
		"the secret with a byte changed": demo.CreatorSecret[:len(demo.CreatorSecret)-1] + "x",
	} {
		for _, preset := range []string{stage.PresetWebinarHost, stage.PresetWebinarViewer} {
			body := `{"name":"M","preset":"` + preset + `","creatorSecret":"` + secret + `"}`
			t.Run(name+" "+preset, func(t *testing.T) {
				post(t, s.URL, path, body).wantError(t, 403, rest.CodeNotCreator)
			})
		}
	}
	if n := participants(t, s, demo.MeetingID); n != 5 {
		t.Fatalf("refused requests changed the participants: %d, want 5", n)
	}

	// The creator gets a host link whose token opens the signaling socket
	// as a host of that meeting.
	a := post(t, s.URL, path, `{"name":"Co-host","preset":"webinar_host","creatorSecret":"`+demo.CreatorSecret+`"}`)
	var link struct {
		UserID string `json:"userId"`
		URL    string `json:"url"`
	}
	if a.status != http.StatusCreated || json.Unmarshal(a.raw, &link) != nil {
		t.Fatalf("creator's host link: %d %s", a.status, a.raw)
	}
	token := link.URL[strings.Index(link.URL, "token=")+len("token="):]
	token, _, _ = strings.Cut(token, "&")
	id, err := s.App.Auth().Authenticate(context.Background(), token)
	if err != nil || id.MeetingID != demo.MeetingID || id.Preset.Name != stage.PresetWebinarHost || id.Name != "Co-host" {
		t.Errorf("the link's token: %+v, %v", id, err)
	}
}

func TestDemoNamesAreCheckedLikeREST(t *testing.T) {
	s := startDemo(t)
	demo := createDemo(t, s.URL)
	path := "/demo/api/meetings/" + demo.MeetingID + "/participants"
	for name, body := range map[string]string{
		"control character": `{"name":"M\u0007","preset":"webinar_viewer","creatorSecret":"` + demo.CreatorSecret + `"}`,
		"newline":           `{"name":"Mal\nlory","preset":"webinar_viewer","creatorSecret":"` + demo.CreatorSecret + `"}`,
		"empty":             `{"name":"  ","preset":"webinar_viewer","creatorSecret":"` + demo.CreatorSecret + `"}`,
		"too long":          `{"name":"` + strings.Repeat("n", rest.MaxNameBytes+1) + `","preset":"webinar_viewer","creatorSecret":"` + demo.CreatorSecret + `"}`,
	} {
		t.Run(name, func(t *testing.T) {
			post(t, s.URL, path, body).wantError(t, 400, rest.CodeInvalidField)
		})
	}
	// The admin API refuses the same name with the same code.
	if err := testserver.Do(s.URL, "POST", "/v1/meetings/"+demo.MeetingID+"/participants",
		map[string]string{"name": "M\u0007", "preset_name": "webinar_viewer"}, 400, nil); err != nil {
		t.Error(err)
	}
	post(t, s.URL, path, `{"name":"M","preset":"group_call_participant","creatorSecret":"`+demo.CreatorSecret+`"}`).
		wantError(t, 400, rest.CodeUnknownPreset)
	post(t, s.URL, path, `{"name":"M","preset":"webinar_viewer","admin":true}`).wantError(t, 400, rest.CodeUnknownField)
	post(t, s.URL, path, `not json`).wantError(t, 400, rest.CodeMalformedBody)
	post(t, s.URL, "/demo/api/meetings", `{"title":"a\u0000b"}`).wantError(t, 400, rest.CodeInvalidField)
	if n := participants(t, s, demo.MeetingID); n != 5 {
		t.Errorf("refused requests changed the participants: %d, want 5", n)
	}
}

func TestDemoIsRateLimitedPerAddress(t *testing.T) {
	s := startDemo(t)
	// Meetings: a burst of 5, then 429 with a coded body and Retry-After.
	var last answer
	made := 0
	for i := 0; i < 8; i++ {
		last = post(t, s.URL, "/demo/api/meetings", "{}")
		if last.status == http.StatusCreated {
			made++
		}
	}
	if made != 5 {
		t.Errorf("%d meetings created in a burst of 8, want 5", made)
	}
	last.wantError(t, http.StatusTooManyRequests, rest.CodeTooManyRequests)
	if ra := last.header.Get("Retry-After"); ra == "" || ra == "0" {
		t.Errorf("Retry-After %q", ra)
	}

	// Links have their own bucket (20), refused requests included.
	limited := 0
	for i := 0; i < 25; i++ {
		a := post(t, s.URL, "/demo/api/meetings/any-meeting/participants", `{"name":"M","preset":"webinar_viewer"}`)
		if a.status == http.StatusTooManyRequests {
			limited++
			a.wantError(t, http.StatusTooManyRequests, rest.CodeTooManyRequests)
		}
	}
	if limited != 5 {
		t.Errorf("%d of 25 link requests limited, want 5", limited)
	}
}
