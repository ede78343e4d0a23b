package stage

import (
	"cmp"
	"slices"
)

// Member is a user in a room.
type Member struct {
	UserID string
	PeerID string
	Name   string
	// CustomID is the host application's own id for the user
	// (RealtimeKit's customParticipantId), carried as given.
	CustomID string
	Preset   Preset
	Status   Status
	// RequestedAt is when the pending request was made (ms since epoch);
	// zero unless Status is Requested.
	RequestedAt int64
	// AcceptedAt is when the user was granted or invited (ms since epoch);
	// zero unless it holds an invitation (ACCEPTED, not by its preset).
	AcceptedAt int64
}

// Cause says which action moved a user.
type Cause string

const (
	CauseRequest Cause = "request"
	CauseCancel  Cause = "cancel"
	CauseGrant   Cause = "grant"  // a requester was accepted
	CauseInvite  Cause = "invite" // a user who did not ask was accepted
	CauseDeny    Cause = "deny"
	CauseKick    Cause = "kick"
	CauseJoin    Cause = "join"
	CauseLeave   Cause = "leave"
	CauseExit    Cause = "exit" // the user left the meeting
	// CauseExpire: a request or an invitation outlived its timeout
	// (Limits); the user goes back OFF_STAGE.
	CauseExpire Cause = "expire"
	// CausePreset: the user's preset changed to one that cannot hold its
	// status; it goes to the new preset's resting status.
	CausePreset Cause = "preset"
)

// Change is one user's move from one status to another. InViewBefore and
// InViewAfter say whether the audience saw the user before and after it
// (see Member.InView): a change the audience saw on neither side is private
// to the user and to those who see everyone.
type Change struct {
	UserID       string
	PeerID       string
	From         Status
	To           Status
	Cause        Cause
	InViewBefore bool
	InViewAfter  bool
}

// Public reports whether the audience sees this change.
func (c Change) Public() bool { return c.InViewBefore || c.InViewAfter }

// Result is what an applied action changed.
type Result struct {
	Changes []Change
	// PendingChanged is set when the list of pending requests changed.
	PendingChanged bool
	// RequestAdded is set when a new request joined the pending list.
	RequestAdded bool
}

// Kind names a stage action.
type Kind string

const (
	ActRequest Kind = "request"
	ActCancel  Kind = "cancel"
	ActGrant   Kind = "grant"
	ActDeny    Kind = "deny"
	ActKick    Kind = "kick"
	ActJoin    Kind = "join"
	ActLeave   Kind = "leave"
)

// Action is one stage action by Actor. Targets is used by grant, deny and
// kick; At (ms since epoch) stamps a request or an invitation. Admin marks
// an action of the server's admin (the REST API): Actor names it for the
// record only, needs no place in the room, and has a host's rights. Expect, when set, holds the
// status the actor saw for each target (same order, "" for none): a target
// that has moved since is refused with CodeBadStatus, so a grant meant for a
// request cannot turn into an invitation after the request was cancelled.
type Action struct {
	Kind    Kind
	Actor   string
	Targets []string
	Expect  []Status
	At      int64
	Admin   bool
}

// InView reports whether the audience sees m: those who can be seen or
// heard, i.e. users ON_STAGE and users whose preset is ALLOWED on stage.
// Hidden participants are never in view.
func (m Member) InView() bool {
	return !m.Preset.HiddenParticipant && (m.Status == OnStage || (m.Preset.StageEnabled && m.Preset.StageAccess == Allowed))
}

// Sees reports whether viewer may see subject: itself always; nobody else
// sees a hidden participant; everyone if its preset sees everyone (hosts);
// otherwise only those in view.
func Sees(viewer, subject Member) bool {
	return viewer.UserID == subject.UserID || (!subject.Preset.HiddenParticipant && (viewer.Preset.SeesEveryone() || subject.InView()))
}

// entry is a member with its places in the room's orders.
type entry struct {
	Member
	entered   uint64 // entry order
	requested uint64 // request order while REQUESTED
}

// holdsSeat reports whether m takes a place on the stage (Limits.MaxOnStage):
// ON_STAGE, or invited to it (ACCEPTED other than by its preset).
func (m *Member) holdsSeat() bool {
	return m.Status == OnStage || m.invited()
}

// invited reports whether m holds an invitation: ACCEPTED by a grant, not
// by its preset.
func (m *Member) invited() bool {
	return m.Status == Accepted && m.Preset.restingStatus() != Accepted
}

// Limits bound a room's stage. Zero values mean no limit.
type Limits struct {
	// MaxOnStage is the most users holding a seat on the stage: ON_STAGE,
	// or invited (granted) and not yet joined. Hosts whose preset lets them
	// on stage take a seat only while ON_STAGE.
	MaxOnStage int `json:"max_on_stage"`
	// RequestTTL is how long (ms) a request waits before it expires.
	RequestTTL int64 `json:"request_timeout_ms"`
	// InviteTTL is how long (ms) an invitation (a grant) waits for the
	// user to join before it expires.
	InviteTTL int64 `json:"invitation_timeout_ms"`
}

// Valid reports whether every limit is zero or positive.
func (l Limits) Valid() bool { return l.MaxOnStage >= 0 && l.RequestTTL >= 0 && l.InviteTTL >= 0 }

// Room holds the stage state of one meeting. It is not safe for concurrent
// use: the server applies one action at a time, which gives every client the
// same order. Every operation costs O(1) in the room's size but for the
// listings (Members, Pending, InView), which sort what they list.
type Room struct {
	members map[string]*entry
	pending map[string]*entry // REQUESTED members
	inView  map[string]*entry // members the audience sees (Member.InView)
	invited map[string]*entry // members holding an invitation (Member.invited)
	screens map[string]*entry // members holding a screen-share slot (ClaimScreenshare)
	seats   int               // members holding a seat (Member.holdsSeat)
	hidden  int               // members whose preset hides them
	ticks   uint64            // source of entered and requested
	limits  Limits
}

// NewRoom returns an empty room.
func NewRoom() *Room {
	return &Room{members: map[string]*entry{}, pending: map[string]*entry{}, inView: map[string]*entry{}, invited: map[string]*entry{}, screens: map[string]*entry{}}
}

// SetLimits sets the room's limits. They bound what comes next: users above
// a lowered MaxOnStage keep their places, and timeouts run from the request
// or invitation, so a shortened one may expire them at the next Expire.
func (r *Room) SetLimits(l Limits) { r.limits = l }

// Limits returns the room's limits.
func (r *Room) Limits() Limits { return r.limits }

// Seats is the number of members holding a seat on the stage.
func (r *Room) Seats() int { return r.seats }

// Len is the number of members.
func (r *Room) Len() int { return len(r.members) }

// Count is the participant count others are shown: the members but the
// hidden ones.
func (r *Room) Count() int { return len(r.members) - r.hidden }

// PendingLen is the number of pending requests.
func (r *Room) PendingLen() int { return len(r.pending) }

// Member returns a copy of the member with userID.
func (r *Room) Member(userID string) (Member, bool) {
	m, ok := r.members[userID]
	if !ok {
		return Member{}, false
	}
	return m.Member, true
}

// Members returns copies of all members in the order they entered, the
// hidden ones included.
func (r *Room) Members() []Member { return listed(r.members, byEntry) }

// Pending returns the members with a pending request, oldest first.
func (r *Room) Pending() []Member { return listed(r.pending, byRequest) }

// InView returns the members the audience sees, in the order they entered.
func (r *Room) InView() []Member { return listed(r.inView, byEntry) }

// VisibleTo returns the members userID may see, itself included, in the
// order they entered: everyone for those who see everyone, otherwise those
// in view. Its cost is O(stage) for the audience.
func (r *Room) VisibleTo(userID string) []Member {
	m, ok := r.members[userID]
	if !ok {
		return nil
	}
	if m.Preset.SeesEveryone() {
		if r.hidden == 0 {
			return r.Members()
		}
		var out []Member
		for _, o := range r.Members() {
			if Sees(m.Member, o) {
				out = append(out, o)
			}
		}
		return out
	}
	if m.InView() {
		return r.InView()
	}
	set := make(map[string]*entry, len(r.inView)+1)
	for id, e := range r.inView {
		set[id] = e
	}
	set[userID] = m
	return listed(set, byEntry)
}

func byEntry(e *entry) uint64   { return e.entered }
func byRequest(e *entry) uint64 { return e.requested }

func listed(set map[string]*entry, key func(*entry) uint64) []Member {
	es := make([]*entry, 0, len(set))
	for _, e := range set {
		es = append(es, e)
	}
	slices.SortFunc(es, func(a, b *entry) int { return cmp.Compare(key(a), key(b)) })
	out := make([]Member, len(es))
	for i, e := range es {
		out[i] = e.Member
	}
	return out
}

// Enter adds m to the room with the initial status of its preset and returns
// the member as stored.
func (r *Room) Enter(m Member) (Member, error) {
	if _, ok := r.members[m.UserID]; ok {
		return Member{}, errorf(CodeAlreadyInRoom, "user %q is already in the room", m.UserID)
	}
	m.Status = m.Preset.InitialStatus()
	m.RequestedAt, m.AcceptedAt = 0, 0
	r.ticks++
	e := &entry{Member: m, entered: r.ticks}
	r.members[m.UserID] = e
	if m.InView() {
		r.inView[m.UserID] = e
	}
	r.track(e)
	return m, nil
}

// Holds reports whether a user with permissions p may hold status s.
func (p Permissions) Holds(s Status) bool {
	switch {
	case !s.Valid():
		return false
	case !p.StageEnabled || p.StageAccess == NotAllowed:
		return s == OffStage
	case p.StageAccess == Allowed:
		return s == Accepted || s == OnStage
	}
	return true
}

// Durable reports whether m holds anything a restart must keep: a status
// other than the one its preset starts with. (Everyone else comes back
// exactly as a new member would.)
func (m Member) Durable() bool { return m.Status != m.Preset.InitialStatus() }

// Restore puts back a member who held a durable status before the server
// restarted, with that status and its request's time; a REQUESTED member
// joins the end of the pending list, so restoring in request order keeps
// the order. The status must be one the preset may hold, and a request
// needs its time. On error the room is unchanged.
func (r *Room) Restore(m Member) (Member, error) {
	if _, ok := r.members[m.UserID]; ok {
		return Member{}, errorf(CodeAlreadyInRoom, "user %q is already in the room", m.UserID)
	}
	if !m.Preset.Holds(m.Status) {
		return Member{}, errorf(CodeBadStatus, "preset %q cannot hold %s", m.Preset.Name, m.Status)
	}
	if (m.Status == Requested) != (m.RequestedAt > 0) {
		return Member{}, errorf(CodeBadStatus, "%s with requestedAt %d", m.Status, m.RequestedAt)
	}
	if !m.invited() {
		m.AcceptedAt = 0
	}
	r.ticks++
	e := &entry{Member: m, entered: r.ticks}
	r.members[m.UserID] = e
	if m.Status == Requested {
		r.ticks++
		e.requested = r.ticks
		r.pending[m.UserID] = e
	}
	if m.InView() {
		r.inView[m.UserID] = e
	}
	r.track(e)
	return m, nil
}

// track counts e's seat, invitation and hiding after it entered or moved.
func (r *Room) track(e *entry) {
	if e.Preset.HiddenParticipant {
		r.hidden++
	}
	if e.invited() {
		r.invited[e.UserID] = e
	} else {
		delete(r.invited, e.UserID)
	}
	if e.holdsSeat() {
		r.seats++
	}
}

// untrack forgets e's seat, invitation and hiding before it exits or moves.
func (r *Room) untrack(e *entry) {
	if e.Preset.HiddenParticipant {
		r.hidden--
	}
	delete(r.invited, e.UserID)
	if e.holdsSeat() {
		r.seats--
	}
}

// Exit removes the user from the room; a pending request is withdrawn.
func (r *Room) Exit(userID string) (Member, Result, error) {
	m, ok := r.members[userID]
	if !ok {
		return Member{}, Result{}, errorf(CodeNotInRoom, "user %q is not in the room", userID)
	}
	r.untrack(m)
	delete(r.members, userID)
	delete(r.inView, userID)
	delete(r.screens, userID)
	var res Result
	if m.Status == Requested {
		delete(r.pending, userID)
		res.PendingChanged = true
	}
	return m.Member, res, nil
}

// Apply checks and applies one stage action. On error the room is unchanged.
func (r *Room) Apply(a Action) (Result, error) {
	if a.Admin {
		switch a.Kind {
		case ActGrant, ActDeny, ActKick:
			return r.batch(nil, a.Kind, a.Targets, a.Expect, a.At)
		}
		return Result{}, errorf(CodeBadStatus, "the admin cannot %s", a.Kind)
	}
	e, ok := r.members[a.Actor]
	if !ok {
		return Result{}, errorf(CodeNotInRoom, "join the room before acting on the stage")
	}
	actor := e
	switch a.Kind {
	case ActRequest:
		return r.request(actor, a.At)
	case ActCancel:
		return r.cancel(actor)
	case ActJoin:
		return r.joinStage(actor)
	case ActLeave:
		return r.leaveStage(actor)
	case ActGrant, ActDeny, ActKick:
		return r.batch(actor, a.Kind, a.Targets, a.Expect, a.At)
	}
	return Result{}, errorf(CodeBadStatus, "unknown stage action %q", a.Kind)
}

func (r *Room) request(m *entry, at int64) (Result, error) {
	p := m.Preset.Permissions
	switch {
	case !p.StageEnabled:
		return Result{}, errorf(CodeStageDisabled, "stage is disabled for preset %q", m.Preset.Name)
	case p.StageAccess == NotAllowed:
		return Result{}, errorf(CodePermissionDenied, "preset %q may not request the stage", m.Preset.Name)
	case p.StageAccess == Allowed && m.Status == Accepted:
		return Result{}, nil // already allowed: nothing to queue
	case m.Status != OffStage:
		return Result{}, errorf(CodeBadStatus, "cannot request the stage while %s", m.Status)
	}
	ch := r.move(m, Requested, CauseRequest)
	m.RequestedAt = at
	return Result{Changes: []Change{ch}, PendingChanged: true, RequestAdded: true}, nil
}

func (r *Room) cancel(m *entry) (Result, error) {
	if !m.Preset.StageEnabled {
		return Result{}, errorf(CodeStageDisabled, "stage is disabled for preset %q", m.Preset.Name)
	}
	if m.Status != Requested {
		return Result{}, errorf(CodeBadStatus, "no pending request to cancel while %s", m.Status)
	}
	ch := r.move(m, OffStage, CauseCancel)
	return Result{Changes: []Change{ch}, PendingChanged: true}, nil
}

func (r *Room) joinStage(m *entry) (Result, error) {
	if !m.Preset.StageEnabled {
		return Result{}, errorf(CodeStageDisabled, "stage is disabled for preset %q", m.Preset.Name)
	}
	if m.Status != Accepted {
		return Result{}, errorf(CodeBadStatus, "cannot join the stage while %s", m.Status)
	}
	if !m.holdsSeat() && r.full(1) {
		return Result{}, errorf(CodeStageFull, "the stage is full: %d of %d seats taken", r.seats, r.limits.MaxOnStage)
	}
	return Result{Changes: []Change{r.move(m, OnStage, CauseJoin)}}, nil
}

func (r *Room) leaveStage(m *entry) (Result, error) {
	if !m.Preset.StageEnabled {
		return Result{}, errorf(CodeStageDisabled, "stage is disabled for preset %q", m.Preset.Name)
	}
	rest := m.Preset.restingStatus()
	if m.Status != OnStage && (m.Status != Accepted || rest == Accepted) {
		return Result{}, errorf(CodeBadStatus, "cannot leave the stage while %s", m.Status)
	}
	return Result{Changes: []Change{r.move(m, rest, CauseLeave)}}, nil
}

// full reports whether n more seats would exceed MaxOnStage.
func (r *Room) full(n int) bool {
	return r.limits.MaxOnStage > 0 && r.seats+n > r.limits.MaxOnStage
}

// batch applies grant, deny or kick to every target, or to none. A nil
// actor is the admin.
func (r *Room) batch(actor *entry, kind Kind, ids []string, expect []Status, at int64) (Result, error) {
	if actor != nil && !actor.Preset.AcceptStageRequests {
		return Result{}, errorf(CodePermissionDenied, "preset %q may not %s stage access", actor.Preset.Name, kind)
	}
	if len(ids) == 0 {
		return Result{}, errorf(CodeEmptyBatch, "%s needs at least one user id", kind)
	}
	if len(ids) > MaxBatch {
		return Result{}, errorf(CodeBatchTooLarge, "%s names %d users; at most %d per call", kind, len(ids), MaxBatch)
	}
	if len(expect) > 0 && len(expect) != len(ids) {
		return Result{}, errorf(CodeBadExpect, "%s names %d users but %d expected statuses", kind, len(ids), len(expect))
	}
	targets, err := r.lookup(ids)
	if err != nil {
		return Result{}, err
	}
	moved := r.moved(ids, expect)
	// Check every target first so that the batch applies whole or not at all.
	var disabled, denied, badStatus []string
	for _, m := range targets {
		switch {
		case !m.Preset.StageEnabled:
			disabled = append(disabled, m.UserID)
		case kind == ActGrant && m.Preset.StageAccess == NotAllowed:
			denied = append(denied, m.UserID)
		case !allowedFrom(kind, m) || moved[m.UserID]:
			badStatus = append(badStatus, m.UserID)
		}
	}
	switch {
	case len(disabled) > 0:
		return Result{}, &Error{Code: CodeStageDisabled, Message: "stage is disabled for", UserIDs: disabled}
	case len(denied) > 0:
		return Result{}, &Error{Code: CodePermissionDenied, Message: "preset may never join the stage", UserIDs: denied}
	case len(badStatus) > 0:
		return Result{}, &Error{Code: CodeBadStatus, Message: string(kind) + " not permitted in the current stage status of", UserIDs: badStatus}
	case kind == ActGrant && r.full(len(targets)):
		return Result{}, errorf(CodeStageFull, "the stage is full: %d of %d seats taken, %d more asked", r.seats, r.limits.MaxOnStage, len(targets))
	}

	res := Result{Changes: make([]Change, 0, len(targets))}
	for _, m := range targets {
		if m.Status == Requested {
			res.PendingChanged = true
		}
		res.Changes = append(res.Changes, r.applyBatchMove(kind, m))
		if kind == ActGrant {
			m.AcceptedAt = at
		}
	}
	return res, nil
}

// moved returns the targets whose status is not the one the actor expected.
func (r *Room) moved(ids []string, expect []Status) map[string]bool {
	var out map[string]bool
	for i, want := range expect {
		if want == "" {
			continue
		}
		if m, ok := r.members[ids[i]]; ok && m.Status != want {
			if out == nil {
				out = map[string]bool{}
			}
			out[ids[i]] = true
		}
	}
	return out
}

// allowedFrom says whether kind may move m from its current status.
func allowedFrom(kind Kind, m *entry) bool {
	switch kind {
	case ActGrant:
		return m.Status == Requested || m.Status == OffStage
	case ActDeny:
		return m.Status == Requested
	case ActKick:
		return m.Status == OnStage || (m.Status == Accepted && m.Preset.restingStatus() != Accepted)
	}
	return false
}

func (r *Room) applyBatchMove(kind Kind, m *entry) Change {
	switch kind {
	case ActGrant:
		if m.Status == Requested {
			return r.move(m, Accepted, CauseGrant)
		}
		return r.move(m, Accepted, CauseInvite)
	case ActDeny:
		return r.move(m, OffStage, CauseDeny)
	default: // ActKick
		return r.move(m, m.Preset.restingStatus(), CauseKick)
	}
}

// lookup resolves ids to members, dropping duplicates and naming unknown ids.
func (r *Room) lookup(ids []string) ([]*entry, error) {
	seen := make(map[string]struct{}, len(ids))
	out := make([]*entry, 0, len(ids))
	var unknown []string
	for _, id := range ids {
		if _, dup := seen[id]; dup {
			continue
		}
		seen[id] = struct{}{}
		m, ok := r.members[id]
		if !ok {
			unknown = append(unknown, id)
			continue
		}
		out = append(out, m)
	}
	if len(unknown) > 0 {
		return nil, &Error{Code: CodeUnknownUser, Message: "not in the room", UserIDs: unknown}
	}
	return out, nil
}

// move sets m's status and keeps the pending and in-view sets in step.
func (r *Room) move(m *entry, to Status, cause Cause) Change {
	ch := Change{UserID: m.UserID, PeerID: m.PeerID, From: m.Status, To: to, Cause: cause, InViewBefore: m.InView()}
	r.untrack(m)
	m.Status = to
	m.AcceptedAt = 0
	r.track(m)
	ch.InViewAfter = m.InView()
	if to == Requested {
		r.ticks++
		m.requested = r.ticks
		r.pending[m.UserID] = m
	} else {
		m.RequestedAt, m.requested = 0, 0
		delete(r.pending, m.UserID)
	}
	if ch.InViewAfter {
		r.inView[m.UserID] = m
	} else {
		delete(r.inView, m.UserID)
	}
	if to != OnStage {
		delete(r.screens, m.UserID) // a share needs the stage
	}
	return ch
}

// Expire moves, as of now (ms since epoch), the requests older than
// RequestTTL and the invitations older than InviteTTL back to OFF_STAGE
// (CauseExpire), oldest first.
func (r *Room) Expire(now int64) Result {
	var due []*entry
	if ttl := r.limits.RequestTTL; ttl > 0 {
		for _, e := range r.pending {
			if now >= e.RequestedAt+ttl {
				due = append(due, e)
			}
		}
	}
	if ttl := r.limits.InviteTTL; ttl > 0 {
		for _, e := range r.invited {
			if now >= e.AcceptedAt+ttl {
				due = append(due, e)
			}
		}
	}
	if len(due) == 0 {
		return Result{}
	}
	slices.SortFunc(due, func(a, b *entry) int {
		return cmp.Or(cmp.Compare(r.deadline(a), r.deadline(b)), cmp.Compare(a.entered, b.entered))
	})
	var res Result
	for _, e := range due {
		if e.Status == Requested {
			res.PendingChanged = true
		}
		res.Changes = append(res.Changes, r.move(e, e.Preset.restingStatus(), CauseExpire))
	}
	return res
}

// deadline is when e's request or invitation expires.
func (r *Room) deadline(e *entry) int64 {
	if e.Status == Requested {
		return e.RequestedAt + r.limits.RequestTTL
	}
	return e.AcceptedAt + r.limits.InviteTTL
}

// NextExpiry is when (ms since epoch) the next request or invitation
// expires, or 0 when none will.
func (r *Room) NextExpiry() int64 {
	var next int64
	earliest := func(at int64) {
		if next == 0 || at < next {
			next = at
		}
	}
	if ttl := r.limits.RequestTTL; ttl > 0 {
		for _, e := range r.pending {
			earliest(e.RequestedAt + ttl)
		}
	}
	if ttl := r.limits.InviteTTL; ttl > 0 {
		for _, e := range r.invited {
			earliest(e.AcceptedAt + ttl)
		}
	}
	return next
}

// SetPreset gives p to every member whose preset has p's name (an admin
// changed it). A member whose status p cannot hold goes to p's resting
// status (CausePreset); the others keep theirs. It returns those changes
// and the user ids of every member that got p, in entry order.
// at (ms) starts the invitation of a user the new preset leaves ACCEPTED
// without being ALLOWED.
func (r *Room) SetPreset(p Preset, at int64) (Result, []string) {
	var res Result
	var es []*entry
	for _, e := range r.members {
		if e.Preset.Name == p.Name {
			es = append(es, e)
		}
	}
	slices.SortFunc(es, func(a, b *entry) int { return cmp.Compare(a.entered, b.entered) })
	ids := make([]string, len(es))
	for i, e := range es {
		ids[i] = e.UserID
		before := e.InView()
		r.untrack(e)
		e.Preset = p
		r.track(e)
		switch {
		case !e.invited():
			e.AcceptedAt = 0
		case e.AcceptedAt == 0:
			e.AcceptedAt = at
		}
		if !p.Holds(e.Status) {
			ch := r.move(e, p.restingStatus(), CausePreset)
			ch.InViewBefore = before
			if ch.From == Requested {
				res.PendingChanged = true
			}
			res.Changes = append(res.Changes, ch)
			continue
		}
		if e.InView() {
			r.inView[e.UserID] = e
		} else {
			delete(r.inView, e.UserID)
		}
	}
	return res, ids
}
