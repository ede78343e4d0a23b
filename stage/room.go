package stage

// Member is a user in a room.
type Member struct {
	UserID string
	PeerID string
	Name   string
	Preset Preset
	Status Status
	// RequestedAt is when the pending request was made (ms since epoch);
	// zero unless Status is Requested.
	RequestedAt int64
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
)

// Change is one user's move from one status to another.
type Change struct {
	UserID string
	PeerID string
	From   Status
	To     Status
	Cause  Cause
}

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
// kick; At (ms since epoch) stamps a request. Expect, when set, holds the
// status the actor saw for each target (same order, "" for none): a target
// that has moved since is refused with CodeBadStatus, so a grant meant for a
// request cannot turn into an invitation after the request was cancelled.
type Action struct {
	Kind    Kind
	Actor   string
	Targets []string
	Expect  []Status
	At      int64
}

// Room holds the stage state of one meeting. It is not safe for concurrent
// use: the server applies one action at a time, which gives every client the
// same order.
type Room struct {
	members map[string]*Member
	order   []string // user ids in the order they entered
	pending []string // user ids in REQUESTED, oldest request first
}

// NewRoom returns an empty room.
func NewRoom() *Room {
	return &Room{members: make(map[string]*Member)}
}

// Len is the number of members.
func (r *Room) Len() int { return len(r.members) }

// Member returns a copy of the member with userID.
func (r *Room) Member(userID string) (Member, bool) {
	m, ok := r.members[userID]
	if !ok {
		return Member{}, false
	}
	return *m, true
}

// Members returns copies of all members in the order they entered.
func (r *Room) Members() []Member {
	out := make([]Member, 0, len(r.order))
	for _, id := range r.order {
		out = append(out, *r.members[id])
	}
	return out
}

// Pending returns the members with a pending request, oldest first.
func (r *Room) Pending() []Member {
	out := make([]Member, 0, len(r.pending))
	for _, id := range r.pending {
		out = append(out, *r.members[id])
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
	m.RequestedAt = 0
	r.members[m.UserID] = &m
	r.order = append(r.order, m.UserID)
	return m, nil
}

// Exit removes the user from the room; a pending request is withdrawn.
func (r *Room) Exit(userID string) (Member, Result, error) {
	m, ok := r.members[userID]
	if !ok {
		return Member{}, Result{}, errorf(CodeNotInRoom, "user %q is not in the room", userID)
	}
	delete(r.members, userID)
	r.order = removeID(r.order, userID)
	var res Result
	if m.Status == Requested {
		r.pending = removeID(r.pending, userID)
		res.PendingChanged = true
	}
	return *m, res, nil
}

// Apply checks and applies one stage action. On error the room is unchanged.
func (r *Room) Apply(a Action) (Result, error) {
	actor, ok := r.members[a.Actor]
	if !ok {
		return Result{}, errorf(CodeNotInRoom, "join the room before acting on the stage")
	}
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
		return r.batch(actor, a.Kind, a.Targets, a.Expect)
	}
	return Result{}, errorf(CodeBadStatus, "unknown stage action %q", a.Kind)
}

func (r *Room) request(m *Member, at int64) (Result, error) {
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
	r.pending = append(r.pending, m.UserID)
	return Result{Changes: []Change{ch}, PendingChanged: true, RequestAdded: true}, nil
}

func (r *Room) cancel(m *Member) (Result, error) {
	if !m.Preset.StageEnabled {
		return Result{}, errorf(CodeStageDisabled, "stage is disabled for preset %q", m.Preset.Name)
	}
	if m.Status != Requested {
		return Result{}, errorf(CodeBadStatus, "no pending request to cancel while %s", m.Status)
	}
	ch := r.move(m, OffStage, CauseCancel)
	r.pending = removeID(r.pending, m.UserID)
	return Result{Changes: []Change{ch}, PendingChanged: true}, nil
}

func (r *Room) joinStage(m *Member) (Result, error) {
	if !m.Preset.StageEnabled {
		return Result{}, errorf(CodeStageDisabled, "stage is disabled for preset %q", m.Preset.Name)
	}
	if m.Status != Accepted {
		return Result{}, errorf(CodeBadStatus, "cannot join the stage while %s", m.Status)
	}
	return Result{Changes: []Change{r.move(m, OnStage, CauseJoin)}}, nil
}

func (r *Room) leaveStage(m *Member) (Result, error) {
	if !m.Preset.StageEnabled {
		return Result{}, errorf(CodeStageDisabled, "stage is disabled for preset %q", m.Preset.Name)
	}
	rest := m.Preset.restingStatus()
	if m.Status != OnStage && (m.Status != Accepted || rest == Accepted) {
		return Result{}, errorf(CodeBadStatus, "cannot leave the stage while %s", m.Status)
	}
	return Result{Changes: []Change{r.move(m, rest, CauseLeave)}}, nil
}

// batch applies grant, deny or kick to every target, or to none.
func (r *Room) batch(actor *Member, kind Kind, ids []string, expect []Status) (Result, error) {
	if !actor.Preset.AcceptStageRequests {
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
	}

	res := Result{Changes: make([]Change, 0, len(targets))}
	for _, m := range targets {
		if m.Status == Requested {
			res.PendingChanged = true
		}
		res.Changes = append(res.Changes, r.applyBatchMove(kind, m))
	}
	if res.PendingChanged {
		r.pending = r.keepRequested(r.pending)
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
func allowedFrom(kind Kind, m *Member) bool {
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

func (r *Room) applyBatchMove(kind Kind, m *Member) Change {
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
func (r *Room) lookup(ids []string) ([]*Member, error) {
	seen := make(map[string]struct{}, len(ids))
	out := make([]*Member, 0, len(ids))
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

func (r *Room) move(m *Member, to Status, cause Cause) Change {
	ch := Change{UserID: m.UserID, PeerID: m.PeerID, From: m.Status, To: to, Cause: cause}
	m.Status = to
	if to != Requested {
		m.RequestedAt = 0
	}
	return ch
}

func (r *Room) keepRequested(ids []string) []string {
	kept := ids[:0]
	for _, id := range ids {
		if r.members[id].Status == Requested {
			kept = append(kept, id)
		}
	}
	return kept
}

func removeID(ids []string, id string) []string {
	for i, v := range ids {
		if v == id {
			return append(ids[:i], ids[i+1:]...)
		}
	}
	return ids
}
