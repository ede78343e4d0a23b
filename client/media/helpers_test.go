//go:build !js

package media

// The tests run the real server (server/app: REST, SQLite, JWT, signaling
// and the SFU) in-process, its SFU kept on loopback, create meetings and
// participants through its REST API and connect native clients
// (client.Meeting) with a Session each. Waits are on events with a
// deadline; the only timed windows are the "nothing more arrives" checks,
// which measure an absence.

import (
	"context"
	"io"
	"log/slog"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pion/rtp"
	"github.com/pion/webrtc/v4"

	"github.com/stagekit/stagekit/client"
	"github.com/stagekit/stagekit/internal/testserver"
	"github.com/stagekit/stagekit/protocol"
	"github.com/stagekit/stagekit/server/app"
	"github.com/stagekit/stagekit/server/sfu"
	"github.com/stagekit/stagekit/stage"
)

const (
	presetHost   = "webinar_host"   // ALLOWED, accepts requests
	presetViewer = "webinar_viewer" // CAN_REQUEST
	deadline     = 20 * time.Second // bound of every wait
)

func TestMain(m *testing.M) {
	if os.Getenv(childEnv) != "" {
		os.Exit(childServer())
	}
	os.Exit(m.Run())
}

// testLogger logs to stderr with STAGEKIT_MEDIA_DEBUG=1, else nowhere.
func testLogger() *slog.Logger {
	if os.Getenv("STAGEKIT_MEDIA_DEBUG") != "" {
		return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	return slog.New(slog.NewTextHandler(io.Discard, nil))
}

// startServer starts the real server in-process with its SFU on loopback.
func startServer(tb testing.TB, grace time.Duration) *testserver.Server {
	tb.Helper()
	return testserver.StartConfig(tb, app.Config{Grace: grace, Logger: testLogger(),
		MediaConfig: sfu.Config{SettingEngine: Loopback}})
}

// room is a server with one meeting.
type room struct {
	tb  testing.TB
	url string
	mid string
	api *webrtc.API // shared by the room's sessions
	// opts, if set, adjusts the Options of the sessions joined next.
	opts func(*Options)
}

func newRoom(tb testing.TB, grace time.Duration) *room {
	tb.Helper()
	srv := startServer(tb, grace)
	return newRoomAt(tb, srv.URL)
}

func newRoomAt(tb testing.TB, url string) *room {
	tb.Helper()
	mid, err := testserver.CreateMeeting(url, "media")
	if err != nil {
		tb.Fatal(err)
	}
	api, err := NewAPI(Options{Loopback: true, Logger: testLogger()})
	if err != nil {
		tb.Fatal(err)
	}
	return &room{tb: tb, url: url, mid: mid, api: api}
}

// user is a joined client with a media session.
type user struct {
	tb   testing.TB
	name string
	id   string // user id
	m    *client.Meeting
	s    *Session
	px   *testserver.Proxy // nil unless joined through a proxy
	rec  *recorder
	sig  chan struct{} // a meeting event arrived
}

// join adds a participant and connects it: Init, Attach, Join.
func (r *room) join(name, preset string) *user { return r.joinWith(name, preset, false) }

func (r *room) joinWith(name, preset string, viaProxy bool) *user {
	r.tb.Helper()
	p, err := testserver.AddParticipant(r.url, r.mid, name, preset)
	if err != nil {
		r.tb.Fatal(err)
	}
	u, err := r.connect(p, viaProxy)
	if err != nil {
		r.tb.Fatalf("%s: %v", name, err)
	}
	return u
}

func (r *room) connect(p testserver.Participant, viaProxy bool) (*user, error) {
	base := r.url
	u := &user{tb: r.tb, name: p.Name, id: p.ID, rec: newRecorder(), sig: make(chan struct{}, 1)}
	if viaProxy {
		u.px = testserver.StartProxy(r.tb, strings.TrimPrefix(r.url, "http://"))
		base = u.px.URL()
	}
	ctx, cancel := context.WithTimeout(context.Background(), deadline)
	defer cancel()
	m, err := client.Init(ctx, client.Options{BaseURI: base, AuthToken: p.Token,
		MinBackoff: 10 * time.Millisecond, MaxBackoff: 100 * time.Millisecond})
	if err != nil {
		return nil, err
	}
	u.m = m
	m.On(func(client.Event) { poke(u.sig) })
	o := Options{API: r.api, OnTrack: u.rec.onTrack, OnPacket: u.rec.onPacket, Logger: testLogger()}
	if r.opts != nil {
		r.opts(&o)
	}
	s, err := Attach(m, o)
	if err != nil {
		m.Close()
		return nil, err
	}
	u.s = s
	r.tb.Cleanup(func() {
		s.Close()
		m.Close()
	})
	if err := m.Join(ctx); err != nil {
		return nil, err
	}
	return u, nil
}

func (u *user) peerID() string { return u.m.Stage().PeerID() }

// until waits for cond, re-checking it on every meeting event.
func (u *user) until(what string, cond func() bool) {
	u.tb.Helper()
	timer := time.NewTimer(deadline)
	defer timer.Stop()
	for !cond() {
		select {
		case <-u.sig:
		case <-timer.C:
			u.tb.Fatalf("%s: timed out waiting for %s", u.name, what)
		}
	}
}

// waitMedia waits for cond, re-checking it on every change of the session.
func (u *user) waitMedia(what string, cond func() bool) {
	u.tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), deadline)
	defer cancel()
	if err := u.s.Wait(ctx, cond); err != nil {
		u.tb.Fatalf("%s: waiting for %s: %v", u.name, what, err)
	}
}

// statusOf is the status u sees for another user.
func (u *user) statusOf(userID string) stage.Status {
	for _, p := range u.m.Participants() {
		if p.UserID == userID {
			return p.StageStatus
		}
	}
	return ""
}

// bringOnStage takes a viewer through request, grant and join.
func bringOnStage(tb testing.TB, host, guest *user) {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), deadline)
	defer cancel()
	if err := guest.m.Stage().RequestAccess(ctx); err != nil {
		tb.Fatalf("request: %v", err)
	}
	host.until("the request", func() bool { return host.statusOf(guest.id) == stage.Requested })
	if err := host.m.Stage().GrantAccess(ctx, []string{guest.id}); err != nil {
		tb.Fatalf("grant: %v", err)
	}
	guest.until("the grant", func() bool { return guest.m.Stage().Status() == stage.Accepted })
	if err := guest.m.Stage().Join(ctx); err != nil {
		tb.Fatalf("stage join: %v", err)
	}
}

// recorder keeps, per owner peer id, what a subscriber received: packet
// count, the latest send stamp and the time of the last packet.
type recorder struct {
	mu    sync.Mutex
	peers map[string]*peerRec
}

type peerRec struct {
	tracks    int // OnTrack calls
	packets   int
	keyframes int
	maxSent   time.Time // latest write time stamped in a packet
	lastRecv  time.Time
}

func newRecorder() *recorder { return &recorder{peers: map[string]*peerRec{}} }

func (r *recorder) onTrack(t *Track) {
	r.mu.Lock()
	defer r.mu.Unlock()
	pr := r.peers[t.Info.PeerID]
	if pr == nil {
		pr = &peerRec{}
		r.peers[t.Info.PeerID] = pr
	}
	pr.tracks++
}

func (r *recorder) onPacket(t *Track, p *rtp.Packet) {
	now := time.Now()
	video := t.Info.Kind == "video"
	_, sent, stamped := SyntheticStamp(p.Payload, video)
	key := video && IsVP8Keyframe(p.Payload)
	r.mu.Lock()
	pr := r.peers[t.Info.PeerID]
	if pr == nil {
		pr = &peerRec{}
		r.peers[t.Info.PeerID] = pr
	}
	pr.packets++
	pr.lastRecv = now
	if stamped && sent.After(pr.maxSent) {
		pr.maxSent = sent
	}
	if key {
		pr.keyframes++
	}
	r.mu.Unlock()
}

func (r *recorder) get(peerID string) peerRec {
	r.mu.Lock()
	defer r.mu.Unlock()
	if pr := r.peers[peerID]; pr != nil {
		return *pr
	}
	return peerRec{}
}

// rawPub is a publisher outside the Session: its own publish PC, offered
// with Meeting.SendMedia, sending stamped VP8-looking RTP every interval
// until stop, whatever happens to the user's stage status (a client that
// ignores a kick).
type rawPub struct {
	pc       *webrtc.PeerConnection
	track    *webrtc.TrackLocalStaticRTP
	interval time.Duration // 0: no timed writes (see writeFrame)
	size     int           // RTP payload bytes

	mu    sync.Mutex
	next  uint64
	frame []byte

	attempts atomic.Int64 // packets the loop tried to write
	written  atomic.Int64 // WriteRTP returned nil
	note     notifier
	up       chan struct{}
	upOnce   sync.Once
	stopOnce sync.Once
	stop     chan struct{}
	done     chan struct{}
}

// offerRaw offers a raw publish PC for m and, once answered, starts sending
// 200-byte payloads every interval.
func offerRaw(ctx context.Context, api *webrtc.API, m *client.Meeting, interval time.Duration) (*rawPub, error) {
	return offerRawSize(ctx, api, m, interval, 201)
}

func offerRawSize(ctx context.Context, api *webrtc.API, m *client.Meeting, interval time.Duration, size int) (*rawPub, error) {
	pc, err := api.NewPeerConnection(webrtc.Configuration{BundlePolicy: webrtc.BundlePolicyMaxBundle})
	if err != nil {
		return nil, err
	}
	track, err := webrtc.NewTrackLocalStaticRTP(webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeVP8, ClockRate: 90000}, "raw", "raw")
	if err != nil {
		return nil, err
	}
	sender, err := pc.AddTrack(track)
	if err != nil {
		return nil, err
	}
	r := &rawPub{pc: pc, track: track, interval: interval, size: max(size, 27), up: make(chan struct{}), stop: make(chan struct{}), done: make(chan struct{})}
	pc.OnConnectionStateChange(func(st webrtc.PeerConnectionState) {
		if st == webrtc.PeerConnectionStateConnected {
			r.upOnce.Do(func() { close(r.up) })
		}
	})
	go func() {
		for {
			if _, _, err := sender.ReadRTCP(); err != nil {
				return
			}
		}
	}()
	if err := offerPublishPC(ctx, pc, m); err != nil {
		return nil, err
	}
	go r.loop()
	return r, nil
}

// offerPublishPC offers pc as m's publish connection, with every candidate
// in the offer, and applies the server's answer; it closes pc on failure.
func offerPublishPC(ctx context.Context, pc *webrtc.PeerConnection, m *client.Meeting) error {
	gathered := webrtc.GatheringCompletePromise(pc)
	offer, err := pc.CreateOffer(nil)
	if err == nil {
		err = pc.SetLocalDescription(offer)
	}
	if err != nil {
		pc.Close()
		return err
	}
	<-gathered
	res, err := m.SendMedia(ctx, protocol.ClientMessage{Type: protocol.TypeMediaOffer, PC: protocol.PCPublish, SDP: pc.LocalDescription().SDP})
	if err == nil {
		err = pc.SetRemoteDescription(webrtc.SessionDescription{Type: webrtc.SDPTypeAnswer, SDP: res.SDP})
	}
	if err != nil {
		pc.Close()
	}
	return err
}

func (r *rawPub) loop() {
	defer close(r.done)
	if r.interval <= 0 {
		<-r.stop
		return
	}
	t := time.NewTicker(r.interval)
	defer t.Stop()
	for {
		select {
		case <-r.stop:
			return
		case <-t.C:
		}
		r.writeFrame()
	}
}

// writeFrame writes the next stamped packet (a keyframe every 50).
func (r *rawPub) writeFrame() {
	r.mu.Lock()
	i := r.next
	r.next++
	if r.frame == nil {
		r.frame = make([]byte, r.size)
	}
	r.frame[0] = 0x10 // VP8 payload descriptor: start of partition 0
	fillFrame(r.frame[1:], i, i%50 == 0, true, time.Now())
	pkt := &rtp.Packet{Header: rtp.Header{Version: 2, PayloadType: 96, SSRC: 0x5eed, Marker: true,
		SequenceNumber: uint16(i), Timestamp: uint32(i) * 450}, Payload: r.frame}
	err := r.track.WriteRTP(pkt)
	r.mu.Unlock()
	if err == nil {
		r.written.Add(1)
	}
	r.attempts.Add(1)
	r.note.fire()
}

// stopLoop stops the timed writes; writeFrame still works.
func (r *rawPub) stopLoop() {
	r.stopOnce.Do(func() { close(r.stop) })
	<-r.done
}

// waitUp waits until the raw publish PC is connected.
func (r *rawPub) waitUp(tb testing.TB) {
	tb.Helper()
	select {
	case <-r.up:
	case <-time.After(deadline):
		tb.Fatal("the raw publish connection did not come up")
	}
}

// waitAttempts waits until the loop has tried to write more than n packets.
func (r *rawPub) waitAttempts(tb testing.TB, n int64) {
	tb.Helper()
	timer := time.NewTimer(deadline)
	defer timer.Stop()
	for {
		ch := r.note.wait()
		if r.attempts.Load() > n {
			return
		}
		select {
		case <-ch:
		case <-timer.C:
			tb.Fatal("the raw publisher stopped writing")
		}
	}
}

func (r *rawPub) close() {
	r.stopLoop()
	r.pc.Close()
}

func codeIs(err error, code int) bool { return codeOf(err) == code }

func ctxDeadline() (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.Background(), deadline)
}

// publishVideo brings u on stage (it must be ACCEPTED) and publishes a
// synthetic video, stopped when the test ends; it returns the video.
// publishAV takes u on stage and publishes synthetic video and audio.
func publishAV(t *testing.T, ctx context.Context, u *user) (video, audio *Synthetic) {
	t.Helper()
	if err := u.m.Stage().Join(ctx); err != nil {
		t.Fatal(err)
	}
	video, err := NewSyntheticVideo()
	if err != nil {
		t.Fatal(err)
	}
	audio, err = NewSyntheticAudio()
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range []*Synthetic{video, audio} {
		s.Start()
		t.Cleanup(s.Stop)
	}
	if err := u.s.Publish(ctx, video, audio); err != nil {
		t.Fatalf("%s: publish: %v", u.name, err)
	}
	return video, audio
}

func publishVideo(t *testing.T, ctx context.Context, u *user) *Synthetic {
	t.Helper()
	if err := u.m.Stage().Join(ctx); err != nil {
		t.Fatal(err)
	}
	v, err := NewSyntheticVideo()
	if err != nil {
		t.Fatal(err)
	}
	v.Start()
	t.Cleanup(v.Stop)
	if err := u.s.Publish(ctx, v); err != nil {
		t.Fatalf("%s: publish: %v", u.name, err)
	}
	return v
}

// pubPC is the session's publish peer connection (nil when none).
func (s *Session) pubPC() *webrtc.PeerConnection {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.pub == nil {
		return nil
	}
	return s.pub.pc
}
