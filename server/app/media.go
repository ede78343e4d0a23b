package app

import (
	"github.com/stagekit/stagekit/protocol"
	"github.com/stagekit/stagekit/server/sfu"
	"github.com/stagekit/stagekit/server/signal"
)

// mediaBridge lets the signaling hub drive the SFU: the hub knows rooms and
// connections, the SFU peer connections and packets; neither imports the other.
type mediaBridge struct{ sfu *sfu.SFU }

var _ signal.MediaHandler = mediaBridge{}

func (b mediaBridge) Attach(meetingID, userID, peerID string, out signal.MediaSender, resume bool) error {
	sig := sfu.MessageSignaler(out.SendMedia)
	if resume && b.sfu.Resume(meetingID, userID, peerID, sig) != nil {
		return nil
	}
	_, err := b.sfu.Join(meetingID, userID, peerID, sig)
	return err
}

func (b mediaBridge) Detach(meetingID, userID string) {
	b.sfu.Leave(meetingID, userID)
	b.sfu.SetMayProduce(meetingID, userID, func(string) bool { return true }) // forget its rules
}

func (b mediaBridge) Handle(meetingID, userID string, m protocol.ClientMessage) (protocol.ServerMessage, error) {
	return b.sfu.HandleMessage(meetingID, userID, m)
}

func (b mediaBridge) Screensharing(meetingID, userID string) bool {
	return b.sfu.HoldsScreenshare(meetingID, userID)
}

func (b mediaBridge) SetPublishing(meetingID, userID string, onStage bool) {
	b.sfu.SetPublishing(meetingID, userID, onStage)
}

// hubScreenshares lets the SFU ask the room's stage for screen-share
// slots (sfu.Screenshares); the hub is made after the SFU.
type hubScreenshares struct{ a *App }

var _ sfu.Screenshares = hubScreenshares{}

func (s hubScreenshares) ClaimScreenshare(meetingID, userID string) error {
	h := s.a.liveHub.Load()
	if h == nil {
		return protocol.NewError(protocol.CodeNotJoined, "join the room first")
	}
	return h.ClaimScreenshare(meetingID, userID)
}

func (s hubScreenshares) ReleaseScreenshare(meetingID, userID string) {
	if h := s.a.liveHub.Load(); h != nil {
		h.ReleaseScreenshare(meetingID, userID)
	}
}
