// Package client is the stage client core: plain Go that builds natively and
// for GOOS=js GOARCH=wasm. The browser SDK (wasm/, jsbridge/) wraps it one to
// one; native tests and load tests drive it directly.
//
// # Use
//
//	m, err := client.Init(ctx, client.Options{BaseURI: "http://127.0.0.1:8080", AuthToken: token})
//	remove := m.On(func(e client.Event) { ... })   // every event, in order
//	err = m.Join(ctx)                               // enter the room
//	err = m.Stage().RequestAccess(ctx)              // meeting.stage.requestAccess()
//	status := m.Stage().Status()                    // already REQUESTED_TO_JOIN_STAGE
//	err = m.Leave(ctx)                              // or m.Close() to drop without leaving
//
// A Meeting is one user's session: Init dials the server's WebSocket
// (BaseURI + "/v1/ws") and authenticates the token, Join enters the room,
// Stage() is meeting.stage. Self, Participants, Participant, Requests and
// Seq read the local state; they are safe from any goroutine.
//
// # Committed calls
//
// Every stage method returns only after the server committed the change:
// the server queues the room's event before the answer on the same ordered
// socket, and the reader applies the event (and emits its events) before it
// hands the answer to the caller. So when a method returns nil, Status(),
// Self(), Participants() and the listeners already reflect it. A refusal
// returns a *Error with the server's code and changes nothing. Stage methods
// before Join fail with 2005 without sending anything; a request larger than
// protocol.MaxFrameBytes fails with 4003 without sending.
//
// # Events
//
// Listeners registered with On run one at a time, in order, on the meeting's
// reader goroutine, after the state they describe was applied. They must not
// block (in particular they must not call a method that waits for the
// server; start a goroutine for that).
//
//	stageStatusUpdate             Status      the local user's status changed
//	stageAccessRequestUpdate      Requests    the pending list changed (acceptStageRequests users)
//	newStageRequest               Count       a request was added (acceptStageRequests users)
//	stageRequestApproved          -           the local request was granted
//	stageRequestRejected          -           the local request was denied
//	acceptPresentRequests         -           granted or invited to the stage
//	participantJoined             Participant another participant entered
//	participantLeft               Participant another participant left (its last state)
//	participantStageStatusUpdate  Participant another participant's status changed (Status too)
//	roomJoined / roomLeft         -           Join succeeded / Leave took the user out
//	reconnecting / reconnected    -           the connection dropped / is back and resynced
//	disconnected                  Err         ended for good (4011–4013 token, 4030 replaced, 4031 removed)
//	media                         Media       a media signaling message from the server
//
// Events follow RealtimeKit's order. A grant emits stageRequestApproved,
// acceptPresentRequests and stageStatusUpdate, in that order; an invitation
// acceptPresentRequests and stageStatusUpdate; a denial stageRequestRejected
// and stageStatusUpdate. A new request emits newStageRequest, then
// stageAccessRequestUpdate.
//
// # Order, resync, reconnect
//
// Events carry the room's sequence number (Event.Seq). An event that skips
// one makes the client ask for a snapshot; events arriving meanwhile are
// kept and applied after it. The snapshot replaces the local state and the
// difference is emitted as the events a user would have seen (participants
// that left, joined or changed status; the local status, with approved,
// rejected or acceptPresentRequests when the user stayed in the room; the
// pending list and newStageRequest).
//
// When the connection drops while the meeting is not left or closed and the
// server did not end it for good, the client emits reconnecting, fails the
// calls in flight with 5002, redials with exponential backoff and jitter
// (Options.MinBackoff..MaxBackoff), says hello, re-joins (the server
// re-attaches the user within its grace period, keeping status, peer id and
// a pending request) and resyncs from the snapshot as above, then emits
// reconnected. Calls made while reconnecting fail with 5002 at once. The
// state after a resync always comes from the server, never from memory.
//
// # Errors
//
// Failures are *Error (protocol.ErrorBody): Code, Message, UserIDs; Error()
// reads "[ERR<code>] message". The server's codes pass through (2001, 2003,
// 2005, 2006, 2101–2105, 4001–4041, 5000); the client adds 2005 (not
// joined, local), 4003 (too large, local), 4005 (bad BaseURI or media
// message), 4010 (no token), 5001 (unreachable), 5002 (disconnected or
// reconnecting), 5003 (timeout or context ended), 5004 (left or closed).
//
// # Cost
//
// One goroutine per Meeting (its reader, which also runs the reconnect
// loop); none per event or per call. The js/wasm build uses the browser's
// WebSocket directly (transport_js.go) so that close codes reach the client;
// the native build uses coder/websocket.
package client
