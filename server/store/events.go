package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
)

// StageEvent is one entry of a meeting's stage log: the audit log, and the
// source of its webhooks. Seq is the room's order (from 1, no gaps while
// every commit succeeds); ID is unique across meetings and is the webhook's
// message id.
type StageEvent struct {
	MeetingID string
	Seq       int64
	ID        string
	Type      string
	At        int64 // ms since epoch
	Actor     string
	UserID    string
	Payload   []byte // JSON, as webhooks send it
}

// StageCommit is one committed room change: its durable members, the
// events it caused and, for a REST call with an Idempotency-Key, the key
// and the answer to replay for it. It is stored in one transaction.
type StageCommit struct {
	Upserts        []StageMember
	Drops          []string
	Events         []StageEvent
	IdempotencyKey string
	Response       []byte
}

// Limits are a meeting's stage limits (stage.Limits), zero for none.
type Limits struct {
	MaxOnStage   int
	RequestTTLms int64
	InviteTTLms  int64
}

// StoredPreset is a preset as stored: its name and its JSON.
type StoredPreset struct {
	Name      string
	Body      []byte
	UpdatedAt time.Time
}

// Webhook is a registered endpoint. Events lists the event types it gets
// ("*": all).
type Webhook struct {
	ID        string
	Name      string
	URL       string
	Secret    string
	Events    []string
	CreatedAt time.Time
}

// Delivery is an event due to a webhook: the head of that webhook's queue
// for the event's meeting.
type Delivery struct {
	OutboxID  int64
	Webhook   Webhook
	Event     StageEvent
	Attempts  int   // made so far
	CreatedAt int64 // ms since epoch, when the event was committed
}

// Delivery states.
const (
	DeliveryPending   = "pending"
	DeliveryDelivered = "delivered"
	DeliveryFailed    = "failed" // given up on after the retry schedule
)

// Attempt is one delivery attempt, as the delivery log shows it.
type Attempt struct {
	WebhookID  string
	EventID    string
	EventType  string
	MeetingID  string
	Seq        int64
	Attempt    int
	At         time.Time
	StatusCode int // 0: no answer
	Error      string
	Duration   time.Duration
}

// sqlShared is the SQL both stores run the same way, over database/sql
// (Postgres through pgx's stdlib adapter); ? placeholders are rewritten to
// $n for Postgres.
type sqlShared struct {
	sdb   *sql.DB
	pg    bool
	cache *stmtCache
}

func newShared(db *sql.DB, pg bool) sqlShared {
	return sqlShared{sdb: db, pg: pg, cache: &stmtCache{db: db, m: map[string]*sql.Stmt{}}}
}

// stmtCache keeps the hot statements prepared: parsing SQL again for every
// change and delivery was a fifth of the server's CPU under load.
type stmtCache struct {
	mu sync.Mutex
	db *sql.DB
	m  map[string]*sql.Stmt
}

// prepare prepares the hot statements once the schema is there. (Only
// then: SQLite has one connection, and preparing inside a transaction
// would wait for it.)
func (s sqlShared) prepare(ctx context.Context, queries ...string) error {
	c := s.cache
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, q := range queries {
		st, err := c.db.PrepareContext(ctx, s.q(q))
		if err != nil {
			return fmt.Errorf("prepare %q: %w", q, err)
		}
		c.m[s.q(q)] = st
	}
	return nil
}

func (c *stmtCache) get(query string) *sql.Stmt {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.m[query]
}

// hotQueries are prepared at open: a stage change's and a delivery's.
var hotQueries = []string{insertEventSQL, insertOutboxSQL, insertKeySQL, selectKeySQL, dueSQL, nextInQueueSQL, finishOutboxSQL, finishAttemptSQL}

// txExec runs query inside tx, prepared if it is a hot one.
func (s sqlShared) txExec(ctx context.Context, tx *sql.Tx, query string, args ...any) (sql.Result, error) {
	if st := s.cache.get(s.q(query)); st != nil {
		return tx.StmtContext(ctx, st).ExecContext(ctx, args...)
	}
	return tx.ExecContext(ctx, s.q(query), args...)
}

// txQueryRow runs a one-row query inside tx, prepared if it is a hot one.
func (s sqlShared) txQueryRow(ctx context.Context, tx *sql.Tx, query string, args ...any) *sql.Row {
	if st := s.cache.get(s.q(query)); st != nil {
		return tx.StmtContext(ctx, st).QueryRowContext(ctx, args...)
	}
	return tx.QueryRowContext(ctx, s.q(query), args...)
}

// query runs query outside a transaction, prepared if it is a hot one.
func (s sqlShared) query(ctx context.Context, query string, args ...any) (*sql.Rows, error) {
	if st := s.cache.get(s.q(query)); st != nil {
		return st.QueryContext(ctx, args...)
	}
	return s.sdb.QueryContext(ctx, s.q(query), args...)
}

func (s sqlShared) closeStatements() {
	if s.cache == nil {
		return
	}
	s.cache.mu.Lock()
	defer s.cache.mu.Unlock()
	for _, st := range s.cache.m {
		st.Close()
	}
}

func (s sqlShared) q(query string) string {
	if !s.pg {
		return query
	}
	var b strings.Builder
	n := 0
	for _, c := range query {
		if c == '?' {
			n++
			b.WriteString("$" + strconv.Itoa(n))
			continue
		}
		b.WriteRune(c)
	}
	return b.String()
}

const (
	insertEventSQL = `INSERT INTO stage_events (meeting_id, seq, event_id, type, at, actor, user_id, payload)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?)`
	// One outbox row per webhook that takes the event, in the change's
	// own transaction: the event cannot be lost once the change is stored.
	insertOutboxSQL = `INSERT INTO webhook_outbox (webhook_id, meeting_id, seq, state, attempts, next_at, created_at)
		SELECT DISTINCT webhook_id, CAST(? AS TEXT), CAST(? AS BIGINT), 'pending', 0, CAST(? AS BIGINT), CAST(? AS BIGINT)
		FROM webhook_events WHERE event IN (?, '*')`
	// insertEventSQL and insertOutboxSQL for several events at once
	// (PostgreSQL's arrays).
	insertEventsPG = `INSERT INTO stage_events (meeting_id, seq, event_id, type, at, actor, user_id, payload)
		SELECT $1, * FROM unnest($2::BIGINT[], $3::TEXT[], $4::TEXT[], $5::BIGINT[], $6::TEXT[], $7::TEXT[], $8::TEXT[])`
	// insertEventsPG with the payloads as one text, separated
	// (pgSeparated).
	insertEventsSeparatedPG = `INSERT INTO stage_events (meeting_id, seq, event_id, type, at, actor, user_id, payload)
		SELECT $1, * FROM unnest($2::BIGINT[], $3::TEXT[], $4::TEXT[], $5::BIGINT[], $6::TEXT[], $7::TEXT[], string_to_array($8::TEXT, chr(31)))`
	insertOutboxesPG = `INSERT INTO webhook_outbox (webhook_id, meeting_id, seq, state, attempts, next_at, created_at)
		SELECT DISTINCT w.webhook_id, CAST($1 AS TEXT), e.seq, 'pending', 0, e.at, e.at
		FROM unnest($2::BIGINT[], $3::BIGINT[], $4::TEXT[]) AS e(seq, at, type)
		JOIN webhook_events w ON w.event IN (e.type, '*')`
	insertKeySQL = `INSERT INTO idempotency_keys (meeting_id, key, response, created_at) VALUES (?, ?, ?, ?)
		ON CONFLICT (meeting_id, key) DO NOTHING`
	selectKeySQL = `SELECT response FROM idempotency_keys WHERE meeting_id = ? AND key = ?`
	// The oldest pending event of each (webhook, meeting) queue that is due.
	dueSQL = `SELECT o.id, o.attempts, o.created_at,
			w.id, w.name, w.url, w.secret, w.events, w.created_at,
			e.meeting_id, e.seq, e.event_id, e.type, e.at, e.actor, e.user_id, e.payload
		FROM webhook_outbox o
		JOIN webhooks w ON w.id = o.webhook_id
		JOIN stage_events e ON e.meeting_id = o.meeting_id AND e.seq = o.seq
		WHERE o.state = 'pending' AND o.next_at <= ?
			AND NOT EXISTS (SELECT 1 FROM webhook_outbox p WHERE p.webhook_id = o.webhook_id
				AND p.meeting_id = o.meeting_id AND p.state = 'pending' AND p.seq < o.seq)
		ORDER BY o.id LIMIT ?`
	// The next pending event of one queue after seq, if it is due: one
	// waiting for its retry holds back those after it.
	nextInQueueSQL = `SELECT o.id, o.attempts, o.created_at,
			w.id, w.name, w.url, w.secret, w.events, w.created_at,
			e.meeting_id, e.seq, e.event_id, e.type, e.at, e.actor, e.user_id, e.payload
		FROM webhook_outbox o
		JOIN webhooks w ON w.id = o.webhook_id
		JOIN stage_events e ON e.meeting_id = o.meeting_id AND e.seq = o.seq
		WHERE o.id = (SELECT p.id FROM webhook_outbox p
				WHERE p.webhook_id = ? AND p.meeting_id = ? AND p.state = 'pending' AND p.seq > ?
				ORDER BY p.seq LIMIT 1)
			AND o.next_at <= ?`
	finishOutboxSQL  = `UPDATE webhook_outbox SET state = ?, attempts = attempts + 1, next_at = ? WHERE id = ?`
	finishAttemptSQL = `INSERT INTO webhook_attempts
			(webhook_id, event_id, event_type, meeting_id, seq, attempt, at, status_code, error, duration_us)
			SELECT id, CAST(? AS TEXT), CAST(? AS TEXT), CAST(? AS TEXT), CAST(? AS BIGINT), CAST(? AS BIGINT), CAST(? AS BIGINT),
				CAST(? AS BIGINT), CAST(? AS TEXT), CAST(? AS BIGINT) FROM webhooks WHERE id = ?`
)

// writeEvents stores c's events, their outbox rows and c's idempotency key
// inside tx, and returns how many outbox rows it added.
func writeEvents(ctx context.Context, tx *sql.Tx, s sqlShared, meetingID string, c StageCommit) (queued int64, err error) {
	for _, e := range c.Events {
		if _, err := s.txExec(ctx, tx, insertEventSQL, meetingID, e.Seq, e.ID, e.Type, e.At, e.Actor, e.UserID, string(e.Payload)); err != nil {
			return 0, err
		}
		res, err := s.txExec(ctx, tx, insertOutboxSQL, meetingID, e.Seq, e.At, e.At, e.Type)
		if err != nil {
			return 0, err
		}
		n, _ := res.RowsAffected()
		queued += n
	}
	if c.IdempotencyKey != "" {
		if _, err := s.txExec(ctx, tx, insertKeySQL, meetingID, c.IdempotencyKey, c.Response, time.Now().UnixMilli()); err != nil {
			return 0, err
		}
	}
	return queued, nil
}

// queueEvents is writeEvents for a pgx batch.
// Several events (a batch of joins) go in one statement each for the
// events and the outbox rows, as arrays. outbox is the index in b of the
// statement that adds the outbox rows (-1: none).
func queueEvents(b *pgx.Batch, meetingID string, c StageCommit) (outbox int) {
	outbox = -1
	s := sqlShared{pg: true}
	if len(c.Events) == 1 {
		e := c.Events[0]
		b.Queue(s.q(insertEventSQL), meetingID, e.Seq, e.ID, e.Type, e.At, e.Actor, e.UserID, string(e.Payload))
		outbox = b.Len()
		b.Queue(s.q(insertOutboxSQL), meetingID, e.Seq, e.At, e.At, e.Type)
	} else if len(c.Events) > 1 {
		n := len(c.Events)
		seqs, ats := make([]int64, n), make([]int64, n)
		ids, types, actors, users := make([]string, n), make([]string, n), make([]string, n), make([]string, n)
		payloads := make([][]byte, n)
		for i, e := range c.Events {
			seqs[i], ids[i], types[i], ats[i], actors[i], users[i], payloads[i] = e.Seq, e.ID, e.Type, e.At, e.Actor, e.UserID, e.Payload
		}
		// As text literals (pgarray.go), each built once for both
		// statements.
		seqList, atList, typeList := pgInt64Array(seqs), pgInt64Array(ats), pgTextArray(types)
		insert, payloadList := insertEventsSeparatedPG, ""
		if list, ok := pgSeparated(payloads); ok {
			payloadList = list
		} else {
			insert, payloadList = insertEventsPG, pgTextArray(payloads)
		}
		b.Queue(insert, meetingID, seqList, pgTextArray(ids), typeList, atList, pgTextArray(actors), pgTextArray(users), payloadList)
		outbox = b.Len()
		b.Queue(insertOutboxesPG, meetingID, seqList, atList, typeList)
	}
	if c.IdempotencyKey != "" {
		b.Queue(s.q(insertKeySQL), meetingID, c.IdempotencyKey, c.Response, time.Now().UnixMilli())
	}
	return outbox
}

// LastStageSeq returns the sequence of the meeting's last stage event (0
// for none).
func (s sqlShared) LastStageSeq(ctx context.Context, meetingID string) (int64, error) {
	var seq sql.NullInt64
	if err := s.sdb.QueryRowContext(ctx, s.q(`SELECT MAX(seq) FROM stage_events WHERE meeting_id = ?`), meetingID).Scan(&seq); err != nil {
		return 0, fmt.Errorf("store: last stage seq: %w", err)
	}
	return seq.Int64, nil
}

// StageEvents returns up to limit events of the meeting after seq after,
// in order.
func (s sqlShared) StageEvents(ctx context.Context, meetingID string, after int64, limit int) ([]StageEvent, error) {
	rows, err := s.sdb.QueryContext(ctx, s.q(`SELECT meeting_id, seq, event_id, type, at, actor, user_id, payload
		FROM stage_events WHERE meeting_id = ? AND seq > ? ORDER BY seq LIMIT ?`), meetingID, after, limit)
	if err != nil {
		return nil, fmt.Errorf("store: stage events: %w", err)
	}
	defer rows.Close()
	return collect(rows, scanEvent)
}

func scanEvent(scan func(...any) error) (StageEvent, error) {
	var e StageEvent
	var payload string
	err := scan(&e.MeetingID, &e.Seq, &e.ID, &e.Type, &e.At, &e.Actor, &e.UserID, &payload)
	e.Payload = []byte(payload)
	return e, err
}

// IdempotentResponse returns the answer stored with an idempotency key, or
// ErrNotFound.
func (s sqlShared) IdempotentResponse(ctx context.Context, meetingID, key string) ([]byte, error) {
	var v []byte
	rows, err := s.query(ctx, selectKeySQL, meetingID, key)
	if err == nil {
		defer rows.Close()
		if rows.Next() {
			err = rows.Scan(&v)
		} else if err = rows.Err(); err == nil {
			err = sql.ErrNoRows
		}
	}
	if errors.Is(err, sql.ErrNoRows) {
		return nil, ErrNotFound
	}
	if err != nil {
		return nil, fmt.Errorf("store: idempotency key: %w", err)
	}
	return v, nil
}

// MeetingLimits returns the limits set for a meeting, or ErrNotFound when
// none were.
func (s sqlShared) MeetingLimits(ctx context.Context, meetingID string) (Limits, error) {
	var l Limits
	err := s.sdb.QueryRowContext(ctx, s.q(`SELECT max_on_stage, request_ttl_ms, invite_ttl_ms FROM meeting_limits WHERE meeting_id = ?`),
		meetingID).Scan(&l.MaxOnStage, &l.RequestTTLms, &l.InviteTTLms)
	if errors.Is(err, sql.ErrNoRows) {
		return l, ErrNotFound
	}
	if err != nil {
		return l, fmt.Errorf("store: meeting limits: %w", err)
	}
	return l, nil
}

// SetMeetingLimits stores a meeting's limits; ErrNotFound for an unknown
// meeting.
func (s sqlShared) SetMeetingLimits(ctx context.Context, meetingID string, l Limits) error {
	res, err := s.sdb.ExecContext(ctx, s.q(`INSERT INTO meeting_limits (meeting_id, max_on_stage, request_ttl_ms, invite_ttl_ms)
		SELECT id, CAST(? AS BIGINT), CAST(? AS BIGINT), CAST(? AS BIGINT) FROM meetings WHERE id = ?
		ON CONFLICT (meeting_id) DO UPDATE SET max_on_stage = excluded.max_on_stage,
			request_ttl_ms = excluded.request_ttl_ms, invite_ttl_ms = excluded.invite_ttl_ms`),
		l.MaxOnStage, l.RequestTTLms, l.InviteTTLms, meetingID)
	if err != nil {
		return fmt.Errorf("store: set meeting limits: %w", err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return ErrNotFound
	}
	return nil
}

// ListPresets returns the stored presets by name.
func (s sqlShared) ListPresets(ctx context.Context) ([]StoredPreset, error) {
	rows, err := s.sdb.QueryContext(ctx, `SELECT name, body, updated_at FROM presets ORDER BY name`)
	if err != nil {
		return nil, fmt.Errorf("store: presets: %w", err)
	}
	defer rows.Close()
	return collect(rows, func(scan func(...any) error) (StoredPreset, error) {
		var p StoredPreset
		var body string
		var at int64
		err := scan(&p.Name, &body, &at)
		p.Body, p.UpdatedAt = []byte(body), fromMillis(at)
		return p, err
	})
}

// PutPreset stores a preset, replacing one of the same name unless
// onlyNew, in which case it reports false and changes nothing when the
// name exists.
func (s sqlShared) PutPreset(ctx context.Context, name string, body []byte, onlyNew bool) (bool, error) {
	query := `INSERT INTO presets (name, body, updated_at) VALUES (?, ?, ?)
		ON CONFLICT (name) DO UPDATE SET body = excluded.body, updated_at = excluded.updated_at`
	if onlyNew {
		query = `INSERT INTO presets (name, body, updated_at) VALUES (?, ?, ?) ON CONFLICT (name) DO NOTHING`
	}
	res, err := s.sdb.ExecContext(ctx, s.q(query), name, string(body), time.Now().UnixMilli())
	if err != nil {
		return false, fmt.Errorf("store: put preset: %w", err)
	}
	n, _ := res.RowsAffected()
	return n > 0, nil
}

// DeletePreset removes a stored preset, or returns ErrNotFound.
func (s sqlShared) DeletePreset(ctx context.Context, name string) error {
	res, err := s.sdb.ExecContext(ctx, s.q(`DELETE FROM presets WHERE name = ?`), name)
	if err != nil {
		return fmt.Errorf("store: delete preset: %w", err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return ErrNotFound
	}
	return nil
}

// CreateWebhook stores a new endpoint with a random id; it gets the events
// committed from now on.
func (s sqlShared) CreateWebhook(ctx context.Context, w Webhook) (Webhook, error) {
	w.ID, w.CreatedAt = uuid.NewString(), stampOf(time.Now)
	tx, err := s.sdb.BeginTx(ctx, nil)
	if err != nil {
		return w, fmt.Errorf("store: create webhook: %w", err)
	}
	defer tx.Rollback()
	if _, err := tx.ExecContext(ctx, s.q(`INSERT INTO webhooks (id, name, url, secret, events, created_at) VALUES (?, ?, ?, ?, ?, ?)`),
		w.ID, w.Name, w.URL, w.Secret, strings.Join(w.Events, ","), w.CreatedAt.UnixMilli()); err != nil {
		return w, fmt.Errorf("store: create webhook: %w", err)
	}
	for _, ev := range w.Events {
		if _, err := tx.ExecContext(ctx, s.q(`INSERT INTO webhook_events (webhook_id, event) VALUES (?, ?) ON CONFLICT DO NOTHING`), w.ID, ev); err != nil {
			return w, fmt.Errorf("store: create webhook: %w", err)
		}
	}
	return w, tx.Commit()
}

const webhookColumns = `id, name, url, secret, events, created_at`

func scanWebhook(scan func(...any) error) (Webhook, error) {
	var w Webhook
	var events string
	var at int64
	err := scan(&w.ID, &w.Name, &w.URL, &w.Secret, &events, &at)
	w.Events, w.CreatedAt = strings.Split(events, ","), fromMillis(at)
	return w, err
}

// ListWebhooks returns every endpoint, oldest first.
func (s sqlShared) ListWebhooks(ctx context.Context) ([]Webhook, error) {
	rows, err := s.sdb.QueryContext(ctx, `SELECT `+webhookColumns+` FROM webhooks ORDER BY created_at, id`)
	if err != nil {
		return nil, fmt.Errorf("store: webhooks: %w", err)
	}
	defer rows.Close()
	return collect(rows, scanWebhook)
}

// GetWebhook returns an endpoint, or ErrNotFound.
func (s sqlShared) GetWebhook(ctx context.Context, id string) (Webhook, error) {
	w, err := scanWebhook(s.sdb.QueryRowContext(ctx, s.q(`SELECT `+webhookColumns+` FROM webhooks WHERE id = ?`), id).Scan)
	if errors.Is(err, sql.ErrNoRows) {
		return w, ErrNotFound
	}
	return w, err
}

// DeleteWebhook removes an endpoint and what it had not received; its
// delivery log goes with it.
func (s sqlShared) DeleteWebhook(ctx context.Context, id string) error {
	res, err := s.sdb.ExecContext(ctx, s.q(`DELETE FROM webhooks WHERE id = ?`), id)
	if err != nil {
		return fmt.Errorf("store: delete webhook: %w", err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return ErrNotFound
	}
	return nil
}

// DueDeliveries returns up to limit deliveries due at now (ms): each the
// oldest pending event of its (webhook, meeting) queue, so that a meeting's
// events reach each endpoint in order. An event waiting for its retry
// holds back the later ones of its queue.
func (s sqlShared) DueDeliveries(ctx context.Context, now int64, limit int) ([]Delivery, error) {
	rows, err := s.query(ctx, dueSQL, now, limit)
	if err != nil {
		return nil, fmt.Errorf("store: due deliveries: %w", err)
	}
	defer rows.Close()
	return collect(rows, scanDelivery)
}

// NextInQueue returns the pending event that follows seq in d's queue
// (same webhook, same meeting), if it is due at now (ms): a deliverer that
// just sent seq sends it next, without waiting for a new read.
func (s sqlShared) NextInQueue(ctx context.Context, d Delivery, now int64) (Delivery, bool, error) {
	rows, err := s.query(ctx, nextInQueueSQL, d.Webhook.ID, d.Event.MeetingID, d.Event.Seq, now)
	if err != nil {
		return Delivery{}, false, fmt.Errorf("store: next in queue: %w", err)
	}
	defer rows.Close()
	next, err := collect(rows, scanDelivery)
	if err != nil || len(next) == 0 {
		return Delivery{}, false, err
	}
	return next[0], true, nil
}

func scanDelivery(scan func(...any) error) (Delivery, error) {
	var d Delivery
	var events, payload string
	var wAt int64
	err := scan(&d.OutboxID, &d.Attempts, &d.CreatedAt,
		&d.Webhook.ID, &d.Webhook.Name, &d.Webhook.URL, &d.Webhook.Secret, &events, &wAt,
		&d.Event.MeetingID, &d.Event.Seq, &d.Event.ID, &d.Event.Type, &d.Event.At, &d.Event.Actor, &d.Event.UserID, &payload)
	d.Webhook.Events, d.Webhook.CreatedAt, d.Event.Payload = strings.Split(events, ","), fromMillis(wAt), []byte(payload)
	return d, err
}

// Finished is the outcome of one attempt at a delivery: the attempt for
// the log, and the delivery's next state (delivered, failed: given up, or
// pending again until NextAt, ms).
type Finished struct {
	Delivery Delivery
	Attempt  Attempt
	State    string
	NextAt   int64
}

// FinishAttempts records attempts in the delivery log and moves their
// deliveries to their next states, all in one transaction.
func (s sqlShared) FinishAttempts(ctx context.Context, done []Finished) error {
	tx, err := s.sdb.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("store: finish attempts: %w", err)
	}
	defer tx.Rollback()
	for _, f := range done {
		a := f.Attempt
		if _, err := s.txExec(ctx, tx, finishOutboxSQL, f.State, f.NextAt, f.Delivery.OutboxID); err != nil {
			return fmt.Errorf("store: finish attempts: %w", err)
		}
		if _, err := s.txExec(ctx, tx, finishAttemptSQL,
			a.EventID, a.EventType, a.MeetingID, a.Seq, a.Attempt, a.At.UnixMilli(), a.StatusCode, a.Error, a.Duration.Microseconds(), f.Delivery.Webhook.ID); err != nil {
			return fmt.Errorf("store: finish attempts: %w", err)
		}
	}
	return tx.Commit()
}

// DeliveryLog returns an endpoint's latest attempts, newest first.
func (s sqlShared) DeliveryLog(ctx context.Context, webhookID string, limit int) ([]Attempt, error) {
	rows, err := s.sdb.QueryContext(ctx, s.q(`SELECT webhook_id, event_id, event_type, meeting_id, seq, attempt, at, status_code, error, duration_us
		FROM webhook_attempts WHERE webhook_id = ? ORDER BY id DESC LIMIT ?`), webhookID, limit)
	if err != nil {
		return nil, fmt.Errorf("store: delivery log: %w", err)
	}
	defer rows.Close()
	return collect(rows, func(scan func(...any) error) (Attempt, error) {
		var a Attempt
		var at, us int64
		err := scan(&a.WebhookID, &a.EventID, &a.EventType, &a.MeetingID, &a.Seq, &a.Attempt, &at, &a.StatusCode, &a.Error, &us)
		a.At, a.Duration = fromMillis(at), time.Duration(us)*time.Microsecond
		return a, err
	})
}

// PendingDeliveries counts the outbox rows not yet delivered nor given up.
func (s sqlShared) PendingDeliveries(ctx context.Context) (int, error) {
	var n int
	err := s.sdb.QueryRowContext(ctx, `SELECT COUNT(*) FROM webhook_outbox WHERE state = 'pending'`).Scan(&n)
	return n, err
}

// AcquireLease takes or renews the named lease for owner until untilMs,
// unless another owner holds it past nowMs; it reports whether owner
// holds it now.
func (s sqlShared) AcquireLease(ctx context.Context, name, owner string, nowMs, untilMs int64) (bool, error) {
	res, err := s.sdb.ExecContext(ctx, s.q(`INSERT INTO leases (name, owner, until_ms) VALUES (?, ?, ?)
		ON CONFLICT (name) DO UPDATE SET owner = excluded.owner, until_ms = excluded.until_ms
		WHERE leases.owner = excluded.owner OR leases.until_ms < ?`), name, owner, untilMs, nowMs)
	if err != nil {
		return false, fmt.Errorf("store: lease %q: %w", name, err)
	}
	n, err := res.RowsAffected()
	return n > 0, err
}
