package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net/url"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/jackc/pgx/v5/stdlib"
)

// Postgres is the shared store of a cluster: a PostgreSQL database
// (github.com/jackc/pgx/v5), which every node of the cluster opens. It is
// safe for concurrent use.
type Postgres struct {
	sqlShared
	pool *pgxpool.Pool
	db   *sql.DB // the same pool through database/sql, for the SQL both stores share
	name string
	now  func() time.Time

	identities identityLookups
}

var (
	_ Store = (*SQLite)(nil)
	_ Store = (*Postgres)(nil)
)

// pgMigrations[i] takes the Postgres schema from version i to i+1. Append
// only. Version 1 is the SQLite schema at its version 5, in one step.
var pgMigrations = [][]string{
	{ // 0 → 1
		`CREATE TABLE meetings (
			id         TEXT PRIMARY KEY,
			title      TEXT NOT NULL,
			created_at BIGINT NOT NULL
		)`,
		`CREATE TABLE participants (
			seq                   BIGINT GENERATED ALWAYS AS IDENTITY,
			id                    TEXT PRIMARY KEY,
			meeting_id            TEXT NOT NULL REFERENCES meetings(id) ON DELETE CASCADE,
			name                  TEXT NOT NULL,
			preset_name           TEXT NOT NULL,
			custom_participant_id TEXT NOT NULL,
			created_at            BIGINT NOT NULL,
			token_generation      BIGINT NOT NULL DEFAULT 0
		)`,
		`CREATE INDEX participants_by_meeting ON participants(meeting_id, created_at, seq)`,
		`CREATE TABLE settings (
			key   TEXT PRIMARY KEY,
			value BYTEA NOT NULL
		)`,
		`CREATE TABLE demo_meetings (
			meeting_id          TEXT PRIMARY KEY REFERENCES meetings(id) ON DELETE CASCADE,
			creator_secret_hash BYTEA NOT NULL
		)`,
		`CREATE TABLE stage_members (
			meeting_id    TEXT NOT NULL REFERENCES meetings(id) ON DELETE CASCADE,
			user_id       TEXT NOT NULL,
			peer_id       TEXT NOT NULL,
			name          TEXT NOT NULL,
			preset_name   TEXT NOT NULL,
			status        TEXT NOT NULL,
			requested_at  BIGINT NOT NULL,
			request_order BIGINT NOT NULL,
			PRIMARY KEY (meeting_id, user_id)
		)`,
		`CREATE TABLE stage_fences (
			meeting_id TEXT PRIMARY KEY REFERENCES meetings(id) ON DELETE CASCADE,
			epoch      BIGINT NOT NULL
		)`,
	},
	{ // 1 → 2: as SQLite's 5 → 6
		`CREATE TABLE stage_events (
			meeting_id TEXT NOT NULL REFERENCES meetings(id) ON DELETE CASCADE,
			seq        BIGINT NOT NULL,
			event_id   TEXT NOT NULL, -- random (96 bits): unique without an index
			type       TEXT NOT NULL,
			at         BIGINT NOT NULL,
			actor      TEXT NOT NULL,
			user_id    TEXT NOT NULL,
			payload    TEXT NOT NULL,
			PRIMARY KEY (meeting_id, seq)
		)`,
		`CREATE TABLE idempotency_keys (
			meeting_id TEXT NOT NULL REFERENCES meetings(id) ON DELETE CASCADE,
			key        TEXT NOT NULL,
			response   BYTEA NOT NULL,
			created_at BIGINT NOT NULL,
			PRIMARY KEY (meeting_id, key)
		)`,
		`CREATE TABLE meeting_limits (
			meeting_id     TEXT PRIMARY KEY REFERENCES meetings(id) ON DELETE CASCADE,
			max_on_stage   BIGINT NOT NULL,
			request_ttl_ms BIGINT NOT NULL,
			invite_ttl_ms  BIGINT NOT NULL
		)`,
		`CREATE TABLE presets (
			name       TEXT PRIMARY KEY,
			body       TEXT NOT NULL,
			updated_at BIGINT NOT NULL
		)`,
		`CREATE TABLE webhooks (
			id         TEXT PRIMARY KEY,
			name       TEXT NOT NULL,
			url        TEXT NOT NULL,
			secret     TEXT NOT NULL,
			events     TEXT NOT NULL,
			created_at BIGINT NOT NULL
		)`,
		`CREATE TABLE webhook_events (
			webhook_id TEXT NOT NULL REFERENCES webhooks(id) ON DELETE CASCADE,
			event      TEXT NOT NULL,
			PRIMARY KEY (event, webhook_id)
		)`,
		`CREATE TABLE webhook_outbox (
			id         BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
			webhook_id TEXT NOT NULL REFERENCES webhooks(id) ON DELETE CASCADE,
			meeting_id TEXT NOT NULL,
			seq        BIGINT NOT NULL,
			state      TEXT NOT NULL,
			attempts   BIGINT NOT NULL,
			next_at    BIGINT NOT NULL,
			created_at BIGINT NOT NULL
		)`,
		`CREATE INDEX webhook_outbox_queue ON webhook_outbox(webhook_id, meeting_id, state, seq)`,
		`CREATE INDEX webhook_outbox_due ON webhook_outbox(state, next_at)`,
		`CREATE TABLE webhook_attempts (
			id          BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
			webhook_id  TEXT NOT NULL REFERENCES webhooks(id) ON DELETE CASCADE,
			event_id    TEXT NOT NULL,
			event_type  TEXT NOT NULL,
			meeting_id  TEXT NOT NULL,
			seq         BIGINT NOT NULL,
			attempt     BIGINT NOT NULL,
			at          BIGINT NOT NULL,
			status_code BIGINT NOT NULL,
			error       TEXT NOT NULL,
			duration_us BIGINT NOT NULL
		)`,
		`CREATE INDEX webhook_attempts_by_webhook ON webhook_attempts(webhook_id, id)`,
		`CREATE TABLE leases (
			name     TEXT PRIMARY KEY,
			owner    TEXT NOT NULL,
			until_ms BIGINT NOT NULL
		)`,
	},
	{ // 2 → 3: the fence check inside a commit's one pipeline (CommitStage)
		`CREATE FUNCTION stagekit_check_fence(meeting TEXT, want BIGINT) RETURNS VOID LANGUAGE plpgsql AS $$
		DECLARE
			held BIGINT;
		BEGIN
			SELECT epoch INTO held FROM stage_fences WHERE meeting_id = meeting FOR UPDATE;
			IF COALESCE(held, 0) <> want THEN
				RAISE EXCEPTION 'stage fenced: epoch % holds the room', COALESCE(held, 0) USING ERRCODE = '` + fencedCode + `';
			END IF;
		END $$`,
	},
}

// fencedCode is the SQLSTATE stagekit_check_fence raises for a fenced
// writer.
const fencedCode = "SKF01"

// PostgresSchemaVersion is the Postgres schema version this code writes.
var PostgresSchemaVersion = len(pgMigrations)

// migrationLock is the advisory lock nodes take while migrating, so that
// nodes starting together migrate once.
const migrationLock = 0x5354474b // "STGK"

// OpenPostgres connects to the database at dsn (a postgres:// URL or a
// key=value string) and migrates its schema.
func OpenPostgres(ctx context.Context, dsn string) (*Postgres, error) {
	cfg, err := pgxpool.ParseConfig(dsn)
	if err != nil {
		return nil, fmt.Errorf("store: postgres URL: %w", err)
	}
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("store: postgres: %w", err)
	}
	db := stdlib.OpenDBFromPool(pool)
	s := &Postgres{sqlShared: newShared(db, true), pool: pool, db: db, name: redactDSN(dsn), now: time.Now}
	if err := s.migrate(ctx); err != nil {
		pool.Close()
		return nil, fmt.Errorf("store: %s: %w", s.name, err)
	}
	if err := s.prepare(ctx, dueSQL, nextInQueueSQL, finishOutboxSQL, finishAttemptSQL, selectKeySQL); err != nil {
		s.Close()
		return nil, fmt.Errorf("store: %s: %w", s.name, err)
	}
	return s, nil
}

// redactDSN drops the password from a URL, for logs.
func redactDSN(dsn string) string {
	u, err := url.Parse(dsn)
	if err != nil || u.Scheme == "" {
		return "postgres"
	}
	return u.Redacted()
}

func (s *Postgres) migrate(ctx context.Context) error {
	tx, err := s.pool.Begin(ctx)
	if err != nil {
		return err
	}
	defer tx.Rollback(ctx)
	if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock($1)`, migrationLock); err != nil {
		return fmt.Errorf("migration lock: %w", err)
	}
	if _, err := tx.Exec(ctx, `CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL)`); err != nil {
		return fmt.Errorf("schema_version table: %w", err)
	}
	var v *int64
	if err := tx.QueryRow(ctx, `SELECT MAX(version) FROM schema_version`).Scan(&v); err != nil {
		return fmt.Errorf("read schema version: %w", err)
	}
	from := 0
	if v != nil {
		from = int(*v)
	}
	if from > PostgresSchemaVersion {
		return fmt.Errorf("database schema version %d is newer than this server's (%d)", from, PostgresSchemaVersion)
	}
	for i := from; i < PostgresSchemaVersion; i++ {
		for _, stmt := range pgMigrations[i] {
			if _, err := tx.Exec(ctx, stmt); err != nil {
				return fmt.Errorf("migrate schema %d → %d: %w", i, i+1, err)
			}
		}
	}
	if from != PostgresSchemaVersion {
		if _, err := tx.Exec(ctx, `DELETE FROM schema_version`); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `INSERT INTO schema_version (version) VALUES ($1)`, PostgresSchemaVersion); err != nil {
			return err
		}
	}
	return tx.Commit(ctx)
}

// Path implements Store: the URL without its password.
func (s *Postgres) Path() string { return s.name }

// Close implements Store.
func (s *Postgres) Close() error {
	s.closeStatements()
	s.db.Close()
	s.pool.Close()
	return nil
}

// Ping implements Store.
func (s *Postgres) Ping(ctx context.Context) error { return s.pool.Ping(ctx) }

func (s *Postgres) stamp() time.Time { return stampOf(s.now) }

// CreateMeeting implements Store.
func (s *Postgres) CreateMeeting(ctx context.Context, title string) (Meeting, error) {
	m := Meeting{ID: uuid.NewString(), Title: title, CreatedAt: s.stamp()}
	if _, err := s.pool.Exec(ctx, `INSERT INTO meetings (id, title, created_at) VALUES ($1, $2, $3)`,
		m.ID, m.Title, m.CreatedAt.UnixMilli()); err != nil {
		return Meeting{}, fmt.Errorf("store: create meeting: %w", err)
	}
	return m, nil
}

// CreateDemoMeeting implements Store.
func (s *Postgres) CreateDemoMeeting(ctx context.Context, title string, secretHash []byte) (Meeting, error) {
	if len(secretHash) == 0 {
		return Meeting{}, errors.New("store: a demo meeting needs its creator's secret hash")
	}
	m := Meeting{ID: uuid.NewString(), Title: title, CreatedAt: s.stamp()}
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `INSERT INTO meetings (id, title, created_at) VALUES ($1, $2, $3)`,
			m.ID, m.Title, m.CreatedAt.UnixMilli()); err != nil {
			return err
		}
		_, err := tx.Exec(ctx, `INSERT INTO demo_meetings (meeting_id, creator_secret_hash) VALUES ($1, $2)`, m.ID, secretHash)
		return err
	})
	if err != nil {
		return Meeting{}, fmt.Errorf("store: create demo meeting: %w", err)
	}
	return m, nil
}

// DemoCreatorSecretHash implements Store.
func (s *Postgres) DemoCreatorSecretHash(ctx context.Context, meetingID string) ([]byte, error) {
	var h []byte
	err := s.pool.QueryRow(ctx, `SELECT creator_secret_hash FROM demo_meetings WHERE meeting_id = $1`, meetingID).Scan(&h)
	switch {
	case errors.Is(err, pgx.ErrNoRows):
		return nil, ErrNotFound
	case err != nil:
		return nil, fmt.Errorf("store: demo meeting: %w", err)
	}
	return h, nil
}

// GetMeeting implements Store.
func (s *Postgres) GetMeeting(ctx context.Context, id string) (Meeting, error) {
	var m Meeting
	var created int64
	err := s.pool.QueryRow(ctx, `SELECT id, title, created_at FROM meetings WHERE id = $1`, id).Scan(&m.ID, &m.Title, &created)
	switch {
	case errors.Is(err, pgx.ErrNoRows):
		return Meeting{}, ErrNotFound
	case err != nil:
		return Meeting{}, fmt.Errorf("store: get meeting: %w", err)
	}
	m.CreatedAt = fromMillis(created)
	return m, nil
}

// AddParticipant implements Store.
func (s *Postgres) AddParticipant(ctx context.Context, p Participant) (Participant, error) {
	p.ID = uuid.NewString()
	p.CreatedAt = s.stamp()
	p.TokenGeneration = 0
	tag, err := s.pool.Exec(ctx, `INSERT INTO participants
		(id, meeting_id, name, preset_name, custom_participant_id, created_at)
		SELECT $1, id, $2, $3, $4, $5 FROM meetings WHERE id = $6`,
		p.ID, p.Name, p.PresetName, p.CustomParticipantID, p.CreatedAt.UnixMilli(), p.MeetingID)
	if err != nil {
		return Participant{}, fmt.Errorf("store: add participant: %w", err)
	}
	if tag.RowsAffected() == 0 {
		return Participant{}, ErrNotFound
	}
	return p, nil
}

// GetParticipant implements Store.
func (s *Postgres) GetParticipant(ctx context.Context, meetingID, id string) (Participant, error) {
	return s.scanOne(s.pool.QueryRow(ctx, `SELECT `+participantColumns+`
		FROM participants WHERE meeting_id = $1 AND id = $2`, meetingID, id))
}

// LookupParticipant implements Store.
func (s *Postgres) LookupParticipant(ctx context.Context, id string) (Participant, error) {
	return s.scanOne(s.pool.QueryRow(ctx, `SELECT `+participantColumns+` FROM participants WHERE id = $1`, id))
}

// LookupIdentity implements Store.
// Concurrent lookups share one query (identityLookups).
func (s *Postgres) LookupIdentity(ctx context.Context, id string) (Participant, string, error) {
	return s.identities.lookup(ctx, id, s.lookupIdentities)
}

// lookupIdentities reads the identities of ids (those that exist).
func (s *Postgres) lookupIdentities(ctx context.Context, ids []string) (map[string]identityResult, error) {
	rows, err := s.pool.Query(ctx, identityColumnsSQL+`p.id = ANY($1)`, ids)
	if err != nil {
		return nil, fmt.Errorf("store: lookup identity: %w", err)
	}
	defer rows.Close()
	out := make(map[string]identityResult, len(ids))
	for rows.Next() {
		p, title, err := oneIdentity(rows.Scan, pgx.ErrNoRows)
		if err != nil {
			return nil, err
		}
		out[p.ID] = identityResult{p: p, title: title}
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("store: lookup identity: %w", err)
	}
	return out, nil
}

func (s *Postgres) scanOne(row pgx.Row) (Participant, error) {
	return oneParticipant(row.Scan, pgx.ErrNoRows)
}

// ListParticipants implements Store.
func (s *Postgres) ListParticipants(ctx context.Context, meetingID string) ([]Participant, error) {
	if _, err := s.GetMeeting(ctx, meetingID); err != nil {
		return nil, err
	}
	rows, err := s.pool.Query(ctx, `SELECT `+participantColumns+`
		FROM participants WHERE meeting_id = $1 ORDER BY created_at, seq`, meetingID)
	if err != nil {
		return nil, fmt.Errorf("store: list participants: %w", err)
	}
	defer rows.Close()
	out, err := collect(rows, scanParticipant)
	if err != nil {
		return nil, fmt.Errorf("store: list participants: %w", err)
	}
	return out, nil
}

// DeleteParticipant implements Store.
func (s *Postgres) DeleteParticipant(ctx context.Context, meetingID, id string) error {
	tag, err := s.pool.Exec(ctx, `DELETE FROM participants WHERE meeting_id = $1 AND id = $2`, meetingID, id)
	if err != nil {
		return fmt.Errorf("store: delete participant: %w", err)
	}
	if tag.RowsAffected() == 0 {
		return ErrNotFound
	}
	return nil
}

// NextTokenGeneration implements Store.
func (s *Postgres) NextTokenGeneration(ctx context.Context, meetingID, id string) (int64, error) {
	var gen int64
	err := s.pool.QueryRow(ctx, `UPDATE participants SET token_generation = token_generation + 1
		WHERE meeting_id = $1 AND id = $2 RETURNING token_generation`, meetingID, id).Scan(&gen)
	switch {
	case errors.Is(err, pgx.ErrNoRows):
		return 0, ErrNotFound
	case err != nil:
		return 0, fmt.Errorf("store: next token generation: %w", err)
	}
	return gen, nil
}

// Setting implements Store.
func (s *Postgres) Setting(ctx context.Context, key string) ([]byte, error) {
	var v []byte
	err := s.pool.QueryRow(ctx, `SELECT value FROM settings WHERE key = $1`, key).Scan(&v)
	switch {
	case errors.Is(err, pgx.ErrNoRows):
		return nil, ErrNotFound
	case err != nil:
		return nil, fmt.Errorf("store: setting %q: %w", key, err)
	}
	return v, nil
}

// SettingOrInit implements Store.
func (s *Postgres) SettingOrInit(ctx context.Context, key string, init func() ([]byte, error)) ([]byte, error) {
	return settingOrInit(ctx, key, init, s.Setting, func(ctx context.Context, key string, v []byte) error {
		_, err := s.pool.Exec(ctx, `INSERT INTO settings (key, value) VALUES ($1, $2) ON CONFLICT (key) DO NOTHING`, key, v)
		return err
	})
}

// ClaimStage implements Store. The upsert locks the fence row until the
// commit, so a SaveStage under the old epoch waits for the claim and then
// finds itself fenced, or commits before it and is read by it.
func (s *Postgres) ClaimStage(ctx context.Context, meetingID string, epoch int64) ([]StageMember, error) {
	var out []StageMember
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		tag, err := tx.Exec(ctx, `INSERT INTO stage_fences (meeting_id, epoch) SELECT id, $2 FROM meetings WHERE id = $1
			ON CONFLICT (meeting_id) DO UPDATE SET epoch = excluded.epoch WHERE stage_fences.epoch <= excluded.epoch`,
			meetingID, epoch)
		if err != nil {
			return err
		}
		if tag.RowsAffected() == 0 {
			var exists bool
			if err := tx.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM meetings WHERE id = $1)`, meetingID).Scan(&exists); err != nil {
				return err
			}
			if exists {
				return ErrFenced
			}
			return nil // no such meeting: nothing to restore, nothing to fence
		}
		rows, err := tx.Query(ctx, `SELECT `+stageColumns+`
			FROM stage_members WHERE meeting_id = $1 ORDER BY request_order, user_id`, meetingID)
		if err != nil {
			return err
		}
		defer rows.Close()
		out, err = collect(rows, scanStageMember)
		return err
	})
	if errors.Is(err, ErrFenced) {
		return nil, err
	}
	if err != nil {
		return nil, fmt.Errorf("store: claim stage: %w", err)
	}
	return out, nil
}

// upsertStagePG writes one row per user with unnest's arrays.
const (
	upsertStagePG = `INSERT INTO stage_members
		(meeting_id, user_id, peer_id, name, preset_name, status, requested_at, request_order)
		SELECT $1, * FROM unnest($2::TEXT[], $3::TEXT[], $4::TEXT[], $5::TEXT[], $6::TEXT[], $7::BIGINT[], $8::BIGINT[])
		ON CONFLICT (meeting_id, user_id) DO UPDATE SET peer_id = excluded.peer_id, name = excluded.name,
			preset_name = excluded.preset_name, status = excluded.status, requested_at = excluded.requested_at,
			request_order = excluded.request_order`
	dropStagePG = `DELETE FROM stage_members WHERE meeting_id = $1 AND user_id = ANY($2::TEXT[])`
)

// queueStageRows adds a commit's drops, then its upserts, to b: one
// statement each however many rows (a storm of requests or a grant of
// them all is one upsert, not one statement per user). A user upserted
// twice keeps its last row, as the statements one by one did (one
// INSERT … ON CONFLICT cannot touch a row twice).
func queueStageRows(b *pgx.Batch, meetingID string, upserts []StageMember, drops []string) {
	if len(drops) > 0 {
		b.Queue(dropStagePG, meetingID, pgTextArray(drops))
	}
	if len(upserts) == 0 {
		return
	}
	last := make(map[string]int, len(upserts))
	for i, m := range upserts {
		last[m.UserID] = i
	}
	n := len(last)
	users, peers, names, presets, statuses := make([]string, 0, n), make([]string, 0, n), make([]string, 0, n), make([]string, 0, n), make([]string, 0, n)
	requested, orders := make([]int64, 0, n), make([]int64, 0, n)
	for i, m := range upserts {
		if last[m.UserID] != i {
			continue
		}
		users, peers, names, presets, statuses = append(users, m.UserID), append(peers, m.PeerID), append(names, m.Name), append(presets, m.PresetName), append(statuses, m.Status)
		requested, orders = append(requested, m.RequestedAt), append(orders, m.RequestOrder)
	}
	b.Queue(upsertStagePG, meetingID, pgTextArray(users), pgTextArray(peers), pgTextArray(names), pgTextArray(presets), pgTextArray(statuses),
		pgInt64Array(requested), pgInt64Array(orders))
}

// SaveStage implements Store.
func (s *Postgres) SaveStage(ctx context.Context, meetingID string, epoch int64, upserts []StageMember, drops []string) error {
	_, err := s.CommitStage(ctx, meetingID, epoch, StageCommit{Upserts: upserts, Drops: drops})
	return err
}

// CommitStage implements Store: one round trip. The batch is one pipeline
// with one Sync, which PostgreSQL runs as one implicit transaction: its
// first statement locks the fence row (FOR UPDATE: a claim cannot slip
// between the check and the commit) and raises fencedCode unless it holds
// epoch, which rolls back the rest.
func (s *Postgres) CommitStage(ctx context.Context, meetingID string, epoch int64, c StageCommit) (int64, error) {
	upserts, drops := c.Upserts, c.Drops
	var queued int64
	err := func() error {
		b := &pgx.Batch{}
		b.Queue(`SELECT stagekit_check_fence($1, $2)`, meetingID, epoch)
		outbox := queueEvents(b, meetingID, c)
		queueStageRows(b, meetingID, upserts, drops)
		br := s.pool.SendBatch(ctx, b)
		for i := range b.Len() {
			tag, err := br.Exec()
			if err != nil {
				br.Close()
				return err
			}
			if i == outbox {
				queued = tag.RowsAffected()
			}
		}
		return br.Close()
	}()
	if pe := (*pgconn.PgError)(nil); errors.As(err, &pe) && pe.Code == fencedCode {
		return 0, ErrFenced
	}
	if err != nil {
		return 0, fmt.Errorf("store: save stage: %w", err)
	}
	return queued, nil
}
