package signal

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mailru/easyjson"

	"github.com/stagekit/stagekit/protocol"
	"github.com/stagekit/stagekit/server/auth"
	"github.com/stagekit/stagekit/stage"
)

// recordedStreams keeps what an owner publishes for its edges (the real
// transport, Redis Streams, is server/cluster's and the cluster tests').
type recordedStreams struct {
	mu   sync.Mutex
	pubs []recordedCommit
}

type recordedCommit struct {
	seq   int64
	parts []StreamPart
}

func (s *recordedStreams) Publish(meetingID string, epoch, seq int64, parts []StreamPart) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.pubs = append(s.pubs, recordedCommit{seq, parts})
	return nil
}

func (s *recordedStreams) Follow(string, map[string]StreamPos, func([]StreamEntry), func(error)) (func(), map[string]StreamPos, error) {
	return nil, nil, errors.New("recordedStreams: not followed")
}

func (s *recordedStreams) commits() []recordedCommit {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.pubs)
}

// entries are a recorded commit's parts as a follower gets them.
func (c recordedCommit) entries() []StreamEntry {
	var out []StreamEntry
	for _, p := range c.parts {
		out = append(out, StreamEntry{Stream: p.Stream, Pos: StreamPos{Seq: c.seq}, Body: p.Body})
	}
	slices.SortFunc(out, func(a, b StreamEntry) int { return strings.Compare(a.Stream, b.Stream) })
	return out
}

const edgeNode = "http://edge:1"

func edgeOwnerEnv(t *testing.T) (*env, *fencedStage, *recordedStreams) {
	p := &placement{epoch: 7, owners: map[string]string{}}
	st := &fencedStage{fence: map[string]int64{}}
	rec := &recordedStreams{}
	e := newEnv(t, func(c *Config) {
		c.Placement, c.Stage = p, st
		c.Edges = &EdgeConfig{Streams: rec, Key: "k", Self: "http://this:1"}
	})
	return e, st, rec
}

func remoteJoin(meetingID, name, preset string) edgeCall {
	uid := "u-" + strings.ToLower(name)
	id := auth.Identity{MeetingID: meetingID, UserID: uid, Name: name, Preset: stage.BuiltinPresets()[preset]}
	return edgeCall{Op: "join", User: uid, Ident: &id, PeerID: "peer-" + uid}
}

func remoteAct(userID, typ string, targets ...string) edgeCall {
	return edgeCall{Op: "act", User: userID, Msg: &protocol.ClientMessage{Type: typ, UserIDs: targets}}
}

// batch runs calls as one batch and returns the answer as an edge reads
// it: through the wire's codec, shared snapshots unshared.
func (e *env) batch(meetingID string, calls ...edgeCall) edgeAnswer {
	e.t.Helper()
	sent := e.hub.answerEdge(edgeCall{Op: "batch", Meeting: meetingID, Node: edgeNode, User: calls[0].User, Calls: calls})
	wire, err := easyjson.Marshal(sent)
	if err != nil {
		e.t.Fatal(err)
	}
	var ans edgeAnswer
	if err := easyjson.Unmarshal(wire, &ans); err != nil {
		e.t.Fatal(err)
	}
	if err := ans.unshare(); err != nil {
		e.t.Fatal(err)
	}
	if ans.Error != nil || len(ans.Answers) != len(calls) {
		e.t.Fatalf("batch: %+v", ans)
	}
	return ans
}

// An edge's batch runs in its order under one lock: each run of joins and
// each run of actions is one commit; the watchers here get every event in
// that order, each stored before anyone hears of it; each action is
// answered as if alone (its actor's status right after it); the batch's
// events go to the edges as one commit of the streams, which an edge
// splits back into the events in order.
func TestEdgeBatchRunsInOrder(t *testing.T) {
	e, st, rec := edgeOwnerEnv(t)
	host, _ := e.join("m", "Host", stage.PresetWebinarHost)
	// A host on the edge: the owner publishes the watchers' events for it.
	e.batch("m", remoteJoin("m", "Far", stage.PresetWebinarHost))
	saves := st.saves
	pubs := len(rec.commits())

	ans := e.batch("m",
		remoteJoin("m", "V1", stage.PresetWebinarViewer),
		remoteJoin("m", "V2", stage.PresetWebinarViewer),
		remoteAct("u-v1", protocol.TypeStageRequest),
		remoteAct("u-v2", protocol.TypeStageRequest),
		remoteAct("u-far", protocol.TypeStageGrant, "u-v1"),
		remoteAct("u-v1", protocol.TypeStageRequest), // refused: accepted already
		remoteJoin("m", "V3", stage.PresetWebinarViewer),
		edgeCall{Op: "leave", User: "u-v2"},
	)
	for i, want := range []stage.Status{"", "", stage.Requested, stage.Requested, stage.Accepted, ""} {
		a := ans.Answers[i]
		if i == 0 {
			if a.Snapshot == nil || a.Snapshot.Self.UserID != "u-v1" || a.Snapshot.Self.StageStatus != stage.Accepted {
				t.Errorf("V1's join answered %+v: want the room as of the whole batch", a)
			}
		} else if i == 1 {
			if a.Error == nil || a.Error.Code != protocol.CodeNotJoined {
				t.Errorf("V2's join, V2 gone by the batch's end: %+v, want %d", a, protocol.CodeNotJoined)
			}
			continue
		} else if i == 5 {
			if a.Error == nil || a.Error.Code != int(stage.CodeBadStatus) {
				t.Errorf("a second request after the grant: %+v, want %d", a.Error, stage.CodeBadStatus)
			}
		} else if a.Error != nil || a.Status != want {
			t.Errorf("call %d: %+v, want status %s (right after the action)", i, a, want)
		}
		if a.Error == nil && a.Seq != ans.Seq {
			t.Errorf("call %d answered at seq %d, the batch's is %d", i, a.Seq, ans.Seq)
		}
	}
	if s := ans.Answers[6].Snapshot; s == nil || s.Count != 4 {
		t.Errorf("V3's snapshot %+v: want the room as of the batch (Host, Far, V1, V3)", s)
	}
	// Joins, actions, a join, a leave: four commits.
	if got := st.saves - saves; got != 4 {
		t.Errorf("%d commits for the batch, want 4", got)
	}

	want := []string{
		protocol.EventParticipantJoined + " u-v1",
		protocol.EventParticipantJoined + " u-v2",
		protocol.EventStage + " u-v1:OFF_STAGE>REQUESTED_TO_JOIN_STAGE:request",
		protocol.EventStage + " u-v2:OFF_STAGE>REQUESTED_TO_JOIN_STAGE:request",
		protocol.EventStage + " u-v1:REQUESTED_TO_JOIN_STAGE>ACCEPTED_TO_JOIN_STAGE:grant",
		protocol.EventParticipantJoined + " u-v3",
		protocol.EventParticipantLeft + " u-v2",
	}
	var got []string
	for len(got) < len(want) {
		ev := host.nextEvent()
		if ev.Participant != nil && ev.Participant.UserID == "u-far" {
			continue
		}
		got = append(got, eventKey(ev))
	}
	if !slices.Equal(got, want) {
		t.Errorf("the host here saw\n%q\nwant\n%q", got, want)
	}

	// One commit of the streams for the whole batch; split back, the
	// watchers' events in the same order.
	commits := rec.commits()[pubs:]
	if len(commits) != 1 {
		t.Fatalf("the batch was published as %d commits, want 1", len(commits))
	}
	groups, err := edgeGroups(commits[0].entries())
	if err != nil {
		t.Fatal(err)
	}
	var far []string
	for _, g := range groups {
		if g.host == nil {
			continue
		}
		var m protocol.ServerMessage
		if err := json.Unmarshal(g.host.Host, &m); err != nil {
			t.Fatal(err)
		}
		for _, ev := range expandJoins(msg{ServerMessage: m}) {
			far = append(far, eventKey(ev))
		}
		if g.seq != ans.Seq {
			t.Errorf("an event of the batch at seq %d, want %d", g.seq, ans.Seq)
		}
	}
	if !slices.Equal(far, want) {
		t.Errorf("the edge's host gets\n%q\nwant\n%q", far, want)
	}
}

// A run of joins in a batch is told as one participantsJoined event (one
// seq): to the watchers here with every joiner but the hidden, in order,
// each once; to the audience here with those in view only; and to the
// edges as one host part and one audience part. A single join stays a
// participantJoined.
func TestEdgeBatchJoinsAreOneEvent(t *testing.T) {
	e, _, rec := edgeOwnerEnv(t)
	host, _ := e.join("m", "Host", stage.PresetWebinarHost)
	here, _ := e.join("m", "Here", stage.PresetWebinarViewer)
	e.batch("m", remoteJoin("m", "Far", stage.PresetWebinarHost)) // a watcher on the edge
	pubs := len(rec.commits())

	inView := func(name string) edgeCall {
		c := remoteJoin("m", name, stage.PresetWebinarViewer)
		c.Ident.Preset = panelist
		return c
	}
	hidden := remoteJoin("m", "Ghost", stage.PresetWebinarViewer)
	hidden.Ident.Preset.HiddenParticipant = true
	e.batch("m", remoteJoin("m", "V1", stage.PresetWebinarViewer), inView("P1"), hidden,
		remoteJoin("m", "V2", stage.PresetWebinarViewer), inView("P2"))
	e.batch("m", remoteJoin("m", "V3", stage.PresetWebinarViewer))

	joins := func(c *tclient, last string) []string {
		c.t.Helper()
		c.waitUntil(last+"'s join", func() bool {
			return slices.ContainsFunc(c.log, func(m msg) bool { return m.Participant != nil && m.Participant.UserID == last })
		})
		c.mu.Lock()
		defer c.mu.Unlock()
		var out []string
		var first uint64
		for _, m := range c.log {
			if m.Event == protocol.EventParticipantJoined && m.Participant.UserID != "u-far" {
				var raw protocol.ServerMessage // the event as sent, before expandJoins
				if err := json.Unmarshal(m.raw, &raw); err != nil {
					t.Fatal(err)
				}
				if first == 0 {
					first = m.Seq
				}
				out = append(out, fmt.Sprintf("%s %s seq+%d", raw.Event, m.Participant.UserID, m.Seq-first))
			}
		}
		return out
	}
	// Seqs from the first join seen; Far's join (seq+1) left out.
	wantHost := []string{"participantJoined u-here seq+0",
		"participantsJoined u-v1 seq+2", "participantsJoined u-p1 seq+2", "participantsJoined u-v2 seq+2", "participantsJoined u-p2 seq+2",
		"participantJoined u-v3 seq+3"}
	if got := joins(host, "u-v3"); !slices.Equal(got, wantHost) {
		t.Errorf("the host here saw\n%q\nwant\n%q", got, wantHost)
	}
	// The audience here sees those in view only: P1 and P2, one event.
	if got, want := joins(here, "u-p2"), []string{"participantsJoined u-p1 seq+0", "participantsJoined u-p2 seq+0"}; !slices.Equal(got, want) {
		t.Errorf("the audience here saw\n%q\nwant\n%q", got, want)
	}

	// The edges: the batch's commit has the watchers' event and the
	// audience's, each once.
	commits := rec.commits()[pubs:]
	var far []string
	for _, c := range commits {
		groups, err := edgeGroups(c.entries())
		if err != nil {
			t.Fatal(err)
		}
		for _, g := range groups {
			for _, part := range []struct {
				who  string
				body []byte
			}{{"host", hostBody(g)}, {"audience", audBody(g)}} {
				if part.body == nil {
					continue
				}
				var m protocol.ServerMessage
				if err := json.Unmarshal(part.body, &m); err != nil {
					t.Fatal(err)
				}
				k := part.who + " " + m.Event
				for _, ev := range expandJoins(msg{ServerMessage: m}) {
					k += " " + ev.Participant.UserID
				}
				far = append(far, k)
			}
		}
	}
	wantFar := []string{"host participantsJoined u-v1 u-p1 u-v2 u-p2", "audience participantsJoined u-p1 u-p2", "host participantJoined u-v3"}
	if !slices.Equal(far, wantFar) {
		t.Errorf("the edges got\n%q\nwant\n%q", far, wantFar)
	}
}

// A run of more joins than one event holds is told in events of
// maxJoinsPerEvent joiners, in order, the last with the rest (one: a
// participantJoined).
func TestEdgeBatchJoinsSplit(t *testing.T) {
	e, _, _ := edgeOwnerEnv(t)
	host, _ := e.join("m", "Host", stage.PresetWebinarHost)
	var calls []edgeCall
	var want []string
	for i := range 2*maxJoinsPerEvent + 1 {
		calls = append(calls, remoteJoin("m", fmt.Sprintf("V%03d", i), stage.PresetWebinarViewer))
		ev := protocol.EventParticipantsJoined
		if i == 2*maxJoinsPerEvent {
			ev = protocol.EventParticipantJoined
		}
		want = append(want, fmt.Sprintf("%s u-v%03d event %d", ev, i, i/maxJoinsPerEvent))
	}
	e.batch("m", calls...)
	last := fmt.Sprintf("u-v%03d", 2*maxJoinsPerEvent)
	host.waitUntil(last+"'s join", func() bool {
		return slices.ContainsFunc(host.log, func(m msg) bool { return m.Participant != nil && m.Participant.UserID == last })
	})
	host.mu.Lock()
	defer host.mu.Unlock()
	var got []string
	var first uint64
	for _, m := range host.log {
		if m.Event != protocol.EventParticipantJoined || m.Participant.UserID == "u-host" {
			continue
		}
		var raw protocol.ServerMessage
		if err := json.Unmarshal(m.raw, &raw); err != nil {
			t.Fatal(err)
		}
		if first == 0 {
			first = m.Seq
		}
		got = append(got, fmt.Sprintf("%s %s event %d", raw.Event, m.Participant.UserID, m.Seq-first))
	}
	if !slices.Equal(got, want) {
		t.Errorf("the host saw\n%q\nwant\n%q", got, want)
	}
}

func hostBody(g edgeGroup) []byte {
	if g.host == nil {
		return nil
	}
	return g.host.Host
}

func audBody(g edgeGroup) []byte {
	if g.aud == nil {
		return nil
	}
	return g.aud.Event
}

// A batch the store fences (another node took the room) is acknowledged
// in no part and told to nobody: every call fails with 4051 and the room
// is deposed here.
func TestEdgeBatchFenced(t *testing.T) {
	e, st, rec := edgeOwnerEnv(t)
	host, _ := e.join("m", "Host", stage.PresetWebinarHost)
	e.batch("m", remoteJoin("m", "Far", stage.PresetWebinarHost), remoteJoin("m", "V1", stage.PresetWebinarViewer))
	host.waitUntil("V1's join", func() bool {
		return slices.ContainsFunc(host.log, func(m msg) bool { return m.Participant != nil && m.Participant.UserID == "u-v1" })
	})
	pubs := len(rec.commits())
	st.takeOver("m", 8)
	ans := e.hub.answerEdge(edgeCall{Op: "batch", Meeting: "m", Node: edgeNode, User: "u-v1", Calls: []edgeCall{
		remoteAct("u-v1", protocol.TypeStageRequest),
		remoteJoin("m", "V2", stage.PresetWebinarViewer),
	}})
	for i, a := range ans.Answers {
		if a.Error == nil || a.Error.Code != protocol.CodeRoomMoved {
			t.Errorf("call %d of a fenced batch: %+v, want 4051", i, a)
		}
	}
	if code := host.closed(); code != protocol.CodeRoomMoved {
		t.Errorf("the host here closed with %d, want 4051", code)
	}
	for _, m := range host.frames() {
		if m.Event == protocol.EventStage || (m.Participant != nil && m.Participant.UserID == "u-v2") {
			t.Errorf("the host heard of a fenced change: %s", m.raw)
		}
	}
	if n := len(rec.commits()); n != pubs {
		t.Errorf("a fenced batch published %d commits", n-pubs)
	}
	if e.hub.Serving("m") {
		t.Error("the room is still served after its batch was fenced")
	}
}

// An edge splits each commit of the streams into its events: one group
// per commit, or one per event of a batch's commit (each stream's entry
// an array, null where an event has no part in that stream), in order.
func TestEdgeGroups(t *testing.T) {
	for _, tc := range []struct {
		name    string
		entries []StreamEntry
		want    string // per group: seq and which parts it has
		err     bool
	}{
		{name: "one commit", entries: []StreamEntry{
			{Stream: "aud", Pos: StreamPos{Seq: 5}, Body: []byte(`{"a":{"e":1}}`)},
			{Stream: "host", Pos: StreamPos{Seq: 5}, Body: []byte(`{"w":{"e":1}}`)},
		}, want: "5:aud+host"},
		{name: "a batch", entries: []StreamEntry{
			{Stream: "aud", Pos: StreamPos{Seq: 6}, Body: []byte(`[{"a":{"e":1}},null,{"a":{"e":3}}]`)},
			{Stream: "host", Pos: StreamPos{Seq: 6}, Body: []byte(`[{"w":{"e":1}},{"w":{"e":2}},null]`)},
			{Stream: "n:b", Pos: StreamPos{Seq: 6}, Body: []byte(`[null,null,{"o":{"u":{"e":3}}}]`)},
		}, want: "6:aud+host 6:host 6:aud+node"},
		{name: "a commit, a batch, a commit", entries: []StreamEntry{
			{Stream: "aud", Pos: StreamPos{Seq: 5}, Body: []byte(`{"n":3}`)},
			{Stream: "host", Pos: StreamPos{Seq: 6}, Body: []byte(`[{"w":{"e":1}},{"w":{"e":2}}]`)},
			{Stream: "aud", Pos: StreamPos{Seq: 7}, Body: []byte(`{"r":true}`)},
		}, want: "5:aud 6:host 6:host 7:aud"},
		{name: "undecodable", entries: []StreamEntry{
			{Stream: "aud", Pos: StreamPos{Seq: 5}, Body: []byte(`[{"a":`)},
		}, err: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			groups, err := edgeGroups(tc.entries)
			if tc.err {
				if err == nil {
					t.Fatal("no error")
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, g := range groups {
				var parts []string
				if g.aud != nil {
					parts = append(parts, "aud")
				}
				if g.host != nil {
					parts = append(parts, "host")
				}
				if g.node != nil {
					parts = append(parts, "node")
				}
				got = append(got, fmt.Sprintf("%d:%s", g.seq, strings.Join(parts, "+")))
			}
			if s := strings.Join(got, " "); s != tc.want {
				t.Errorf("groups %s, want %s", s, tc.want)
			}
		})
	}
}

// A batch changes nothing of a single node's semantics: random sequences
// of an edge's joins, stage actions (valid or not) and leaves, run once as
// one batch and once call by call on another owner, give the same answers
// (codes and statuses), the same events in the same order to a host on
// the owner and to one on an edge, and the same request list.
func TestEdgeBatchEqualsOneByOne(t *testing.T) {
	viewers := []string{"A", "B", "C", "D", "E"}
	types := []string{protocol.TypeStageRequest, protocol.TypeStageCancel, protocol.TypeStageJoin, protocol.TypeStageLeave}
	hostTypes := []string{protocol.TypeStageGrant, protocol.TypeStageDeny, protocol.TypeStageKick}
	for seed := range 40 {
		rnd := uint64(seed)*0x9E3779B97F4A7C15 + 1
		next := func(n int) int {
			rnd ^= rnd << 13
			rnd ^= rnd >> 7
			rnd ^= rnd << 17
			return int(rnd % uint64(n))
		}
		var calls []edgeCall
		in := map[string]bool{}
		for range 24 {
			v := viewers[next(len(viewers))]
			uid := "u-" + strings.ToLower(v)
			switch k := next(10); {
			case !in[uid] || k == 0:
				if in[uid] && k == 0 {
					calls = append(calls, edgeCall{Op: "leave", User: uid})
					in[uid] = false
					continue
				}
				calls = append(calls, remoteJoin("m", v, stage.PresetWebinarViewer))
				in[uid] = true
			case k < 6:
				calls = append(calls, remoteAct(uid, types[next(len(types))]))
			default:
				calls = append(calls, remoteAct("u-far", hostTypes[next(len(hostTypes))], uid))
			}
		}
		// A join whose user has left by the batch's end is answered 2005
		// there (the room as of the batch's end has no place for it),
		// "joined" one by one.
		leftLater := map[int]bool{}
		for i, c := range calls {
			for _, d := range calls[i+1:] {
				if c.Op == "join" && d.User == c.User && (d.Op == "leave" || d.Op == "join") {
					leftLater[i] = d.Op == "leave" // the user's last word
				}
			}
		}
		type run struct {
			answers []string
			host    []string
			far     []string
			pending []string
		}
		do := func(batched bool) run {
			e, _, rec := edgeOwnerEnv(t)
			host, _ := e.join("m", "Host", stage.PresetWebinarHost)
			e.batch("m", remoteJoin("m", "Far", stage.PresetWebinarHost))
			from := len(rec.commits())
			var answers []edgeAnswer
			if batched {
				answers = e.batch("m", calls...).Answers
			} else {
				for _, c := range calls {
					answers = append(answers, e.batch("m", c).Answers[0])
				}
			}
			var out run
			for i, a := range answers {
				switch {
				case leftLater[i] && batched && a.Error != nil && a.Error.Code == protocol.CodeNotJoined,
					leftLater[i] && !batched && a.Snapshot != nil:
					out.answers = append(out.answers, "joined, then left")
				case a.Error != nil:
					out.answers = append(out.answers, fmt.Sprint(a.Error.Code))
				case a.Snapshot != nil:
					out.answers = append(out.answers, "joined")
				default:
					out.answers = append(out.answers, string(a.Status))
				}
			}
			for _, c := range rec.commits()[from:] {
				groups, err := edgeGroups(c.entries())
				if err != nil {
					t.Fatal(err)
				}
				for _, g := range groups {
					if g.host != nil && g.host.Host != nil {
						var m protocol.ServerMessage
						if err := json.Unmarshal(g.host.Host, &m); err != nil {
							t.Fatal(err)
						}
						for _, ev := range expandJoins(msg{ServerMessage: m}) {
							out.far = append(out.far, eventKey(ev))
						}
					}
				}
			}
			for _, r := range e.hub.answerEdge(edgeCall{Op: "requests", Meeting: "m", Node: edgeNode, User: "u-far"}).Requests {
				out.pending = append(out.pending, r.UserID)
			}
			// The host here: every event up to the last the edge's host got.
			for len(out.host) < len(out.far) {
				ev := host.nextEvent()
				if ev.Participant != nil && ev.Participant.UserID == "u-far" {
					continue
				}
				out.host = append(out.host, eventKey(ev))
			}
			return out
		}
		one, all := do(false), do(true)
		if !slices.Equal(all.answers, one.answers) {
			t.Errorf("seed %d: answers batched %q\none by one %q", seed, all.answers, one.answers)
		}
		if !slices.Equal(all.far, one.far) || !slices.Equal(all.host, one.far) || !slices.Equal(one.host, one.far) {
			t.Errorf("seed %d: events\nbatched, edge's host %q\nbatched, host here   %q\none by one, edge's   %q\none by one, here     %q", seed, all.far, all.host, one.far, one.host)
		}
		if !slices.Equal(all.pending, one.pending) {
			t.Errorf("seed %d: requests batched %q, one by one %q", seed, all.pending, one.pending)
		}
	}
}

// The viewers of a batch who see the same room share one snapshot on the
// wire; each still gets exactly the snapshot it would alone, and those who
// see everyone or are in view get their own.
func TestEdgeBatchSharedSnapshot(t *testing.T) {
	e, _, _ := edgeOwnerEnv(t)
	e.join("m", "Host", stage.PresetWebinarHost)
	inView := remoteJoin("m", "Panelist", stage.PresetWebinarViewer)
	inView.Ident.Preset = panelist // ALLOWED: in view, sees only those in view
	calls := []edgeCall{remoteJoin("m", "V1", stage.PresetWebinarViewer), inView,
		remoteJoin("m", "V2", stage.PresetLivestreamViewer), remoteJoin("m", "Far", stage.PresetWebinarHost), remoteJoin("m", "V3", stage.PresetWebinarViewer)}
	sent := e.hub.answerEdge(edgeCall{Op: "batch", Meeting: "m", Node: edgeNode, User: calls[0].User, Calls: calls})
	if len(sent.Snapshots) != 1 || len(sent.Answers) != len(calls) {
		t.Fatalf("the batch's answer carries %d shared snapshots and %d answers, want 1 and %d", len(sent.Snapshots), len(sent.Answers), len(calls))
	}
	for i, a := range sent.Answers {
		if shares := a.Shared != 0; shares != (i == 0 || i == 2 || i == 4) {
			t.Errorf("join %d (%s) shares a snapshot: %v", i, calls[i].User, shares)
		}
	}
	wire, err := easyjson.Marshal(sent)
	if err != nil {
		t.Fatal(err)
	}
	var got edgeAnswer
	if err := easyjson.Unmarshal(wire, &got); err != nil {
		t.Fatal(err)
	}
	if err := got.unshare(); err != nil {
		t.Fatal(err)
	}
	r := e.hub.existingRoom("m")
	for i, c := range calls {
		r.mu.Lock()
		m, _ := r.st.Member(c.User)
		want := r.snapshotOfLocked(c.User, m.Preset)
		r.mu.Unlock()
		a := got.Answers[i]
		if a.Snapshot == nil {
			t.Fatalf("join %d (%s): no snapshot", i, c.User)
		}
		// As the client gets it (an empty request list is left out).
		gotJSON, _ := json.Marshal(a.Snapshot)
		wantJSON, _ := json.Marshal(want)
		if string(gotJSON) != string(wantJSON) {
			t.Errorf("join %d (%s): snapshot\n%s\nwant\n%s", i, c.User, gotJSON, wantJSON)
		}
	}
}

// An edge delivers a group only to the connections it concerns (the users
// its node part names, the watchers for a host part) unless the audience
// as a whole gets something: each connection gets exactly what visiting
// every connection gives it, in the same order, for every kind of group.
func TestEdgeDeliverOnlyToThoseConcerned(t *testing.T) {
	presets := stage.BuiltinPresets()
	users := []struct {
		uid, preset string
		skip        int64 // its edgeSkip: what a snapshot covered
	}{
		{"v1", stage.PresetWebinarViewer, 0}, {"v2", stage.PresetWebinarViewer, 0}, {"v3", stage.PresetWebinarViewer, 0},
		{"v4", stage.PresetWebinarViewer, 3}, {"h1", stage.PresetWebinarHost, 0}, {"h2", stage.PresetWebinarHost, 4},
	}
	ev := func(s string) json.RawMessage {
		return encodeEvent(protocol.ServerMessage{Event: protocol.EventStage, Participant: &protocol.Participant{UserID: s}})
	}
	groups := []edgeGroup{
		{seq: 1, node: &nodePart{Own: map[string]json.RawMessage{"v1": ev("own v1")}}, host: &hostPart{Watch: ev("watch 1"), Host: ev("host 1")}},
		{seq: 2, node: &nodePart{Own: map[string]json.RawMessage{"h1": ev("own h1"), "gone": ev("own gone")}}, host: &hostPart{Watch: ev("watch 2")}},
		{seq: 3, aud: &audPart{Event: ev("public 3")}, node: &nodePart{Own: map[string]json.RawMessage{"v2": ev("own v2")}}},
		{seq: 4, aud: &audPart{Count: 7}},
		{seq: 5, host: &hostPart{Watch: ev("watch 5"), Host: ev("host 5")}},
		{seq: 6, node: &nodePart{Own: map[string]json.RawMessage{"v4": ev("own v4")}, Pub: map[string]bool{"v4": true, "v2": false}}},
		{seq: 7, aud: &audPart{Resync: true}},
		{seq: 8, node: &nodePart{Own: map[string]json.RawMessage{"v1": ev("own v1 again")}, Close: map[string]int{"v3": protocol.CodeReplaced}}, host: &hostPart{Watch: ev("watch 8")}},
		{seq: 9, aud: &audPart{Event: ev("public 9")}, host: &hostPart{Watch: ev("watch 9")}},
	}
	for _, g := range groups {
		if g.aud != nil && g.aud.Count > 0 {
			g.count = encodeEvent(protocol.ServerMessage{Event: protocol.EventCount, Count: g.aud.Count})
		}
	}
	// The same connections twice: one edge room delivers as it does, the
	// other visits every connection with every group.
	room := func() (*edgeRoom, map[string]*conn) {
		h := NewHub(Config{Auth: &fakeAuth{}, SendQueue: 1 << 10, Logger: slog.New(slog.NewTextHandler(io.Discard, nil)), Media: &publishingLog{}})
		t.Cleanup(h.Close)
		er := &edgeRoom{hub: h, id: "m", conns: map[string]*conn{}}
		conns := map[string]*conn{}
		for _, u := range users {
			c := newConn(h, discard{})
			c.id = auth.Identity{MeetingID: "m", UserID: u.uid, Preset: presets[u.preset]}
			c.edgeSkip = u.skip
			if !c.out.claim() { // the test reads the queue: no writer
				t.Fatal("claim")
			}
			er.putConnLocked(c)
			conns[u.uid] = c
		}
		return er, conns
	}
	targeted, got := room()
	everyone, want := room()
	for _, g := range groups {
		targeted.deliverGroupLocked(g)
		for _, c := range everyone.conns {
			everyone.deliverToLocked(c, g, false)
		}
	}
	frames := func(c *conn) []string {
		var out []string
		for {
			b, ok := c.out.pop()
			if !ok {
				return out
			}
			out = append(out, string(b))
		}
	}
	for _, u := range users {
		g, w := frames(got[u.uid]), frames(want[u.uid])
		if !slices.Equal(g, w) {
			t.Errorf("%s got\n%q\nwant\n%q", u.uid, g, w)
		}
		if len(w) == 0 {
			t.Errorf("%s: nothing to compare", u.uid)
		}
		if got[u.uid].isClosing() != want[u.uid].isClosing() {
			t.Errorf("%s: closed %v, want %v", u.uid, got[u.uid].isClosing(), want[u.uid].isClosing())
		}
	}
	if !want["v3"].isClosing() {
		t.Error("v3 was not closed: the case is not tested")
	}
	g, w := targeted.hub.cfg.Media.(*publishingLog).calls, everyone.hub.cfg.Media.(*publishingLog).calls
	slices.Sort(g) // within a group, the users' order is the map's
	slices.Sort(w)
	if !slices.Equal(g, w) || len(w) != 2 {
		t.Errorf("publishing changes %q, want %q (two)", g, w)
	}
}

// publishingLog is a media handler that records SetPublishing (the edge
// delivery test needs nothing else of it).
type publishingLog struct{ calls []string }

func (*publishingLog) Screensharing(string, string) bool { return false }

func (*publishingLog) Attach(string, string, string, MediaSender, bool) error {
	return nil
}
func (*publishingLog) Detach(string, string) {}
func (*publishingLog) Handle(string, string, protocol.ClientMessage) (protocol.ServerMessage, error) {
	return protocol.ServerMessage{}, nil
}
func (p *publishingLog) SetPublishing(_, userID string, onStage bool) {
	p.calls = append(p.calls, fmt.Sprintf("%s:%v", userID, onStage))
}

// How long an edge's batch gathers: a stage action goes at once; joins,
// leaves and drops gather up to edgeJoinWindow, and never past
// edgeJoinBatch calls.
func TestGatherOn(t *testing.T) {
	calls := func(n int, ops ...string) []batchedCall {
		out := make([]batchedCall, n)
		for i := range out {
			out[i].call.Op = "join"
		}
		for i, op := range ops {
			out[i].call.Op = op
		}
		return out
	}
	ms := time.Millisecond
	for _, tc := range []struct {
		name   string
		batch  []batchedCall
		waited time.Duration
		want   bool
	}{
		{"one join, just gathered", calls(1), 2 * ms, true},
		{"joins before the join window", calls(100), edgeJoinWindow - 2*ms, true},
		{"one join at the join window", calls(1), edgeJoinWindow, false},
		{"joins at the join window", calls(100), edgeJoinWindow, false},
		{"a full batch", calls(edgeJoinBatch), 2 * ms, false},
		{"an action among joins", calls(50, "join", "act"), 2 * ms, false},
		{"an action alone", calls(1, "act"), 2 * ms, false},
		{"leaves and drops gather as joins", calls(3, "leave", "drop"), 2 * ms, true},
	} {
		if got := gatherOn(tc.batch, tc.waited); got != tc.want {
			t.Errorf("%s: gatherOn(%d calls, %v) = %v, want %v", tc.name, len(tc.batch), tc.waited, got, tc.want)
		}
	}
}

// A count reaches the edge's connections whose snapshot is older than its
// commit; one whose snapshot is at or past it has that count or a newer one
// already (the edge answered its join before the stream delivered the
// count), and an older count after it would set the viewer's count back.
func TestEdgeCountSkipsNewerSnapshots(t *testing.T) {
	h := NewHub(Config{Auth: &fakeAuth{}, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	t.Cleanup(h.Close)
	var mu sync.Mutex
	got := map[string]string{}
	er := &edgeRoom{hub: h, id: "m", conns: map[string]*conn{}, pos: map[string]StreamPos{}, delivered: 2,
		counts: countFan{deliver: func(c *conn, frame []byte) {
			mu.Lock()
			got[c.id.UserID] = string(frame)
			mu.Unlock()
		}, sleep: func(time.Duration) {}}}
	for uid, skip := range map[string]int64{"older": 0, "just older": 4, "at": 5, "newer": 9} {
		c := newConn(h, discard{})
		c.id = auth.Identity{MeetingID: "m", UserID: uid, Preset: stage.BuiltinPresets()[stage.PresetWebinarViewer]}
		c.edgeSkip = skip
		er.putConnLocked(c)
	}
	er.deliver([]StreamEntry{{Stream: streamAudience, Pos: StreamPos{ID: "1-0", Seq: 5}, Body: []byte(`{"n":7}`)}})
	for {
		er.counts.mu.Lock()
		running := er.counts.running
		er.counts.mu.Unlock()
		if !running {
			break
		}
		time.Sleep(time.Millisecond)
	}
	mu.Lock()
	defer mu.Unlock()
	want := encodeEvent(protocol.ServerMessage{Event: protocol.EventCount, Count: 7})
	if len(got) != 2 || got["older"] != string(want) || got["just older"] != string(want) {
		t.Fatalf("count frames %q, want %s to the two connections with older snapshots only", got, want)
	}
}
