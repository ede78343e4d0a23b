package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"time"

	"github.com/google/uuid"
	_ "modernc.org/sqlite" // registers the "sqlite" driver
)

// FileName is the database's file name inside the data directory.
const FileName = "stagekit.db"

// SQLite is the embedded store: one SQLite file (modernc.org/sqlite, pure
// Go), <dataDir>/stagekit.db. It is safe for concurrent use.
type SQLite struct {
	sqlShared
	db   *sql.DB
	path string
	now  func() time.Time
}

// migrations[i] takes the schema from version i to version i+1. Append only:
// a released step is never edited.
var migrations = [][]string{
	{ // 0 → 1
		`CREATE TABLE meetings (
			id         TEXT PRIMARY KEY,
			title      TEXT NOT NULL,
			created_at INTEGER NOT NULL
		)`,
		`CREATE TABLE participants (
			id                    TEXT PRIMARY KEY,
			meeting_id            TEXT NOT NULL REFERENCES meetings(id) ON DELETE CASCADE,
			name                  TEXT NOT NULL,
			preset_name           TEXT NOT NULL,
			custom_participant_id TEXT NOT NULL,
			created_at            INTEGER NOT NULL
		)`,
		`CREATE INDEX participants_by_meeting ON participants(meeting_id, created_at)`,
		`CREATE TABLE settings (
			key   TEXT PRIMARY KEY,
			value BLOB NOT NULL
		)`,
	},
	{ // 1 → 2: regenerating a token revokes the earlier ones
		`ALTER TABLE participants ADD COLUMN token_generation INTEGER NOT NULL DEFAULT 0`,
	},
	{ // 2 → 3: meetings made by the demo API, with their creator's secret
		`CREATE TABLE demo_meetings (
			meeting_id          TEXT PRIMARY KEY REFERENCES meetings(id) ON DELETE CASCADE,
			creator_secret_hash BLOB NOT NULL
		)`,
	},
	{ // 3 → 4: each room's durable stage state, restored after a restart
		`CREATE TABLE stage_members (
			meeting_id    TEXT NOT NULL REFERENCES meetings(id) ON DELETE CASCADE,
			user_id       TEXT NOT NULL,
			peer_id       TEXT NOT NULL,
			name          TEXT NOT NULL,
			preset_name   TEXT NOT NULL,
			status        TEXT NOT NULL,
			requested_at  INTEGER NOT NULL,
			request_order INTEGER NOT NULL,
			PRIMARY KEY (meeting_id, user_id)
		)`,
	},
	{ // 4 → 5: the epoch of the room's owner; a write under an older one is refused
		`CREATE TABLE stage_fences (
			meeting_id TEXT PRIMARY KEY REFERENCES meetings(id) ON DELETE CASCADE,
			epoch      INTEGER NOT NULL
		)`,
	},
	{ // 5 → 6: the stage log and webhook outbox, idempotency keys, limits, presets, leases
		`CREATE TABLE stage_events (
			meeting_id TEXT NOT NULL REFERENCES meetings(id) ON DELETE CASCADE,
			seq        INTEGER NOT NULL,
			event_id   TEXT NOT NULL, -- random (96 bits): unique without an index
			type       TEXT NOT NULL,
			at         INTEGER NOT NULL,
			actor      TEXT NOT NULL,
			user_id    TEXT NOT NULL,
			payload    TEXT NOT NULL,
			PRIMARY KEY (meeting_id, seq)
		)`,
		`CREATE TABLE idempotency_keys (
			meeting_id TEXT NOT NULL REFERENCES meetings(id) ON DELETE CASCADE,
			key        TEXT NOT NULL,
			response   BLOB NOT NULL,
			created_at INTEGER NOT NULL,
			PRIMARY KEY (meeting_id, key)
		)`,
		`CREATE TABLE meeting_limits (
			meeting_id     TEXT PRIMARY KEY REFERENCES meetings(id) ON DELETE CASCADE,
			max_on_stage   INTEGER NOT NULL,
			request_ttl_ms INTEGER NOT NULL,
			invite_ttl_ms  INTEGER NOT NULL
		)`,
		`CREATE TABLE presets (
			name       TEXT PRIMARY KEY,
			body       TEXT NOT NULL,
			updated_at INTEGER NOT NULL
		)`,
		`CREATE TABLE webhooks (
			id         TEXT PRIMARY KEY,
			name       TEXT NOT NULL,
			url        TEXT NOT NULL,
			secret     TEXT NOT NULL,
			events     TEXT NOT NULL,
			created_at INTEGER NOT NULL
		)`,
		`CREATE TABLE webhook_events (
			webhook_id TEXT NOT NULL REFERENCES webhooks(id) ON DELETE CASCADE,
			event      TEXT NOT NULL,
			PRIMARY KEY (event, webhook_id)
		)`,
		`CREATE TABLE webhook_outbox (
			id         INTEGER PRIMARY KEY AUTOINCREMENT,
			webhook_id TEXT NOT NULL REFERENCES webhooks(id) ON DELETE CASCADE,
			meeting_id TEXT NOT NULL,
			seq        INTEGER NOT NULL,
			state      TEXT NOT NULL,
			attempts   INTEGER NOT NULL,
			next_at    INTEGER NOT NULL,
			created_at INTEGER NOT NULL
		)`,
		`CREATE INDEX webhook_outbox_queue ON webhook_outbox(webhook_id, meeting_id, state, seq)`,
		`CREATE INDEX webhook_outbox_due ON webhook_outbox(state, next_at)`,
		`CREATE TABLE webhook_attempts (
			id          INTEGER PRIMARY KEY AUTOINCREMENT,
			webhook_id  TEXT NOT NULL REFERENCES webhooks(id) ON DELETE CASCADE,
			event_id    TEXT NOT NULL,
			event_type  TEXT NOT NULL,
			meeting_id  TEXT NOT NULL,
			seq         INTEGER NOT NULL,
			attempt     INTEGER NOT NULL,
			at          INTEGER NOT NULL,
			status_code INTEGER NOT NULL,
			error       TEXT NOT NULL,
			duration_us INTEGER NOT NULL
		)`,
		`CREATE INDEX webhook_attempts_by_webhook ON webhook_attempts(webhook_id, id)`,
		`CREATE TABLE leases (
			name     TEXT PRIMARY KEY,
			owner    TEXT NOT NULL,
			until_ms INTEGER NOT NULL
		)`,
	},
}

// ClaimStage implements Store.
func (s *SQLite) ClaimStage(ctx context.Context, meetingID string, epoch int64) ([]StageMember, error) {
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return nil, fmt.Errorf("store: claim stage: %w", err)
	}
	defer tx.Rollback()
	res, err := tx.ExecContext(ctx, `INSERT INTO stage_fences (meeting_id, epoch) SELECT id, ? FROM meetings WHERE id = ?
		ON CONFLICT (meeting_id) DO UPDATE SET epoch = excluded.epoch WHERE stage_fences.epoch <= excluded.epoch`,
		epoch, meetingID)
	if err != nil {
		return nil, fmt.Errorf("store: claim stage: %w", err)
	}
	if n, err := res.RowsAffected(); err != nil {
		return nil, fmt.Errorf("store: claim stage: %w", err)
	} else if n == 0 {
		var exists int
		if err := tx.QueryRowContext(ctx, `SELECT COUNT(*) FROM meetings WHERE id = ?`, meetingID).Scan(&exists); err != nil {
			return nil, fmt.Errorf("store: claim stage: %w", err)
		}
		if exists == 0 {
			return nil, nil // no such meeting: nothing to restore, nothing to fence
		}
		return nil, ErrFenced
	}
	rows, err := tx.QueryContext(ctx, `SELECT `+stageColumns+`
		FROM stage_members WHERE meeting_id = ? ORDER BY request_order, user_id`, meetingID)
	if err != nil {
		return nil, fmt.Errorf("store: claim stage: %w", err)
	}
	out, err := scanStage(rows)
	if err != nil {
		return nil, fmt.Errorf("store: claim stage: %w", err)
	}
	if err := tx.Commit(); err != nil {
		return nil, fmt.Errorf("store: claim stage: %w", err)
	}
	return out, nil
}

// SaveStage implements Store.
func (s *SQLite) SaveStage(ctx context.Context, meetingID string, epoch int64, upserts []StageMember, drops []string) error {
	_, err := s.CommitStage(ctx, meetingID, epoch, StageCommit{Upserts: upserts, Drops: drops})
	return err
}

// CommitStage implements Store.
func (s *SQLite) CommitStage(ctx context.Context, meetingID string, epoch int64, c StageCommit) (int64, error) {
	upserts, drops := c.Upserts, c.Drops
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return 0, fmt.Errorf("store: save stage: %w", err)
	}
	defer tx.Rollback()
	if err := s.checkFence(ctx, tx, meetingID, epoch); err != nil {
		return 0, err
	}
	for _, id := range drops {
		if _, err := s.txExec(ctx, tx, dropMemberSQL, meetingID, id); err != nil {
			return 0, fmt.Errorf("store: save stage: %w", err)
		}
	}
	for _, m := range upserts {
		if _, err := s.txExec(ctx, tx, upsertMemberSQL, meetingID, m.UserID, m.PeerID, m.Name, m.PresetName, m.Status, m.RequestedAt, m.RequestOrder); err != nil {
			return 0, fmt.Errorf("store: save stage: %w", err)
		}
	}
	queued, err := writeEvents(ctx, tx, s.sqlShared, meetingID, c)
	if err != nil {
		return 0, fmt.Errorf("store: save stage: %w", err)
	}
	if err := tx.Commit(); err != nil {
		return 0, fmt.Errorf("store: save stage: %w", err)
	}
	return queued, nil
}

// A stage change's statements, prepared at open.
const (
	fenceSQL        = `SELECT epoch FROM stage_fences WHERE meeting_id = ?`
	dropMemberSQL   = `DELETE FROM stage_members WHERE meeting_id = ? AND user_id = ?`
	upsertMemberSQL = `INSERT INTO stage_members
			(meeting_id, user_id, peer_id, name, preset_name, status, requested_at, request_order)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?)
			ON CONFLICT (meeting_id, user_id) DO UPDATE SET peer_id = excluded.peer_id, name = excluded.name,
				preset_name = excluded.preset_name, status = excluded.status, requested_at = excluded.requested_at,
				request_order = excluded.request_order`
)

// checkFence refuses (ErrFenced) unless the room's fence is epoch; a room
// never claimed is at epoch 0.
func (s *SQLite) checkFence(ctx context.Context, tx *sql.Tx, meetingID string, epoch int64) error {
	var fence int64
	err := s.txQueryRow(ctx, tx, fenceSQL, meetingID).Scan(&fence)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		fence = 0
	case err != nil:
		return fmt.Errorf("store: stage fence: %w", err)
	}
	if fence != epoch {
		return ErrFenced
	}
	return nil
}

func scanStage(rs *sql.Rows) ([]StageMember, error) {
	defer rs.Close()
	return collect(rs, scanStageMember)
}

// SchemaVersion is the schema version this code writes.
var SchemaVersion = len(migrations)

// Open opens the database in dir, creating dir (mode 0700) and the database
// (mode 0600: it holds the token signing key) if needed, and migrates the
// schema.
func Open(dir string) (*SQLite, error) {
	if dir == "" {
		return nil, errors.New("store: no data directory given")
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("store: data directory: %w", err)
	}
	path, err := filepath.Abs(filepath.Join(dir, FileName))
	if err != nil {
		return nil, fmt.Errorf("store: data directory: %w", err)
	}
	// Create the file ourselves so that it (and the -wal and -shm files,
	// which SQLite gives the database file's mode) is private.
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("store: %w", err)
	}
	f.Close()

	// A file: URI, escaped, so that any path works; the pragmas run on every
	// new connection.
	q := url.Values{}
	q.Add("_pragma", "journal_mode(WAL)")
	q.Add("_pragma", "busy_timeout(5000)")
	q.Add("_pragma", "foreign_keys(1)")
	q.Add("_pragma", "synchronous(NORMAL)")
	// Every transaction here writes: taking the write lock at BEGIN lets a
	// second handle wait (busy_timeout) instead of failing on the upgrade.
	q.Add("_txlock", "immediate")
	dsn := (&url.URL{Scheme: "file", Path: path, RawQuery: q.Encode()}).String()
	db, err := sql.Open("sqlite", dsn)
	if err != nil {
		return nil, fmt.Errorf("store: open %s: %w", path, err)
	}
	// One connection: SQLite has one writer anyway, and every statement here
	// is a short point query; this rules out SQLITE_BUSY between our own
	// connections.
	db.SetMaxOpenConns(1)
	s := &SQLite{sqlShared: newShared(db, false), db: db, path: path, now: time.Now}
	if err := s.migrate(); err != nil {
		db.Close()
		return nil, fmt.Errorf("store: %s: %w", path, err)
	}
	if err := s.prepare(context.Background(), append(hotQueries, fenceSQL, dropMemberSQL, upsertMemberSQL)...); err != nil {
		s.Close()
		return nil, fmt.Errorf("store: %s: %w", path, err)
	}
	return s, nil
}

// Path is the database file.
func (s *SQLite) Path() string { return s.path }

// Close closes the database. Later calls fail.
func (s *SQLite) Close() error {
	s.closeStatements()
	return s.db.Close()
}

// Ping checks that the database answers.
func (s *SQLite) Ping(ctx context.Context) error {
	var one int
	return s.db.QueryRowContext(ctx, `SELECT 1`).Scan(&one)
}

func (s *SQLite) migrate() error {
	var mode string
	if err := s.db.QueryRow(`PRAGMA journal_mode`).Scan(&mode); err != nil {
		return fmt.Errorf("read journal mode: %w", err)
	}
	if mode != "wal" {
		return fmt.Errorf("journal mode is %q, want wal", mode)
	}
	if _, err := s.db.Exec(`CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL)`); err != nil {
		return fmt.Errorf("schema_version table: %w", err)
	}
	for {
		v, err := s.version()
		if err != nil {
			return err
		}
		if v > SchemaVersion {
			return fmt.Errorf("database schema version %d is newer than this server's (%d)", v, SchemaVersion)
		}
		if v == SchemaVersion {
			return nil
		}
		if err := s.step(v); err != nil {
			return fmt.Errorf("migrate schema %d → %d: %w", v, v+1, err)
		}
	}
}

func (s *SQLite) version() (int, error) {
	var v sql.NullInt64
	if err := s.db.QueryRow(`SELECT MAX(version) FROM schema_version`).Scan(&v); err != nil {
		return 0, fmt.Errorf("read schema version: %w", err)
	}
	return int(v.Int64), nil
}

// step applies migration from (to from+1) in one transaction.
func (s *SQLite) step(from int) error {
	tx, err := s.db.Begin()
	if err != nil {
		return err
	}
	defer tx.Rollback()
	for _, stmt := range migrations[from] {
		if _, err := tx.Exec(stmt); err != nil {
			return err
		}
	}
	if _, err := tx.Exec(`DELETE FROM schema_version`); err != nil {
		return err
	}
	if _, err := tx.Exec(`INSERT INTO schema_version (version) VALUES (?)`, from+1); err != nil {
		return err
	}
	return tx.Commit()
}

func (s *SQLite) stamp() time.Time { return stampOf(s.now) }

// CreateMeeting stores a new meeting with a random id.
func (s *SQLite) CreateMeeting(ctx context.Context, title string) (Meeting, error) {
	m := Meeting{ID: uuid.NewString(), Title: title, CreatedAt: s.stamp()}
	if _, err := s.db.ExecContext(ctx, `INSERT INTO meetings (id, title, created_at) VALUES (?, ?, ?)`,
		m.ID, m.Title, m.CreatedAt.UnixMilli()); err != nil {
		return Meeting{}, fmt.Errorf("store: create meeting: %w", err)
	}
	return m, nil
}

// CreateDemoMeeting stores a new meeting, as CreateMeeting does, marked as
// made by the demo API for the creator whose secret hashes to secretHash.
func (s *SQLite) CreateDemoMeeting(ctx context.Context, title string, secretHash []byte) (Meeting, error) {
	if len(secretHash) == 0 {
		return Meeting{}, errors.New("store: a demo meeting needs its creator's secret hash")
	}
	m := Meeting{ID: uuid.NewString(), Title: title, CreatedAt: s.stamp()}
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return Meeting{}, fmt.Errorf("store: create demo meeting: %w", err)
	}
	defer tx.Rollback()
	if _, err := tx.ExecContext(ctx, `INSERT INTO meetings (id, title, created_at) VALUES (?, ?, ?)`,
		m.ID, m.Title, m.CreatedAt.UnixMilli()); err != nil {
		return Meeting{}, fmt.Errorf("store: create demo meeting: %w", err)
	}
	if _, err := tx.ExecContext(ctx, `INSERT INTO demo_meetings (meeting_id, creator_secret_hash) VALUES (?, ?)`,
		m.ID, secretHash); err != nil {
		return Meeting{}, fmt.Errorf("store: create demo meeting: %w", err)
	}
	if err := tx.Commit(); err != nil {
		return Meeting{}, fmt.Errorf("store: create demo meeting: %w", err)
	}
	return m, nil
}

// DemoCreatorSecretHash returns the creator's secret hash of a meeting the
// demo API made, or ErrNotFound for any other id (meetings made through the
// admin API included).
func (s *SQLite) DemoCreatorSecretHash(ctx context.Context, meetingID string) ([]byte, error) {
	var h []byte
	err := s.db.QueryRowContext(ctx, `SELECT creator_secret_hash FROM demo_meetings WHERE meeting_id = ?`, meetingID).Scan(&h)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return nil, ErrNotFound
	case err != nil:
		return nil, fmt.Errorf("store: demo meeting: %w", err)
	}
	return h, nil
}

// GetMeeting returns a meeting, or ErrNotFound.
func (s *SQLite) GetMeeting(ctx context.Context, id string) (Meeting, error) {
	var m Meeting
	var created int64
	err := s.db.QueryRowContext(ctx, `SELECT id, title, created_at FROM meetings WHERE id = ?`, id).
		Scan(&m.ID, &m.Title, &created)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return Meeting{}, ErrNotFound
	case err != nil:
		return Meeting{}, fmt.Errorf("store: get meeting: %w", err)
	}
	m.CreatedAt = fromMillis(created)
	return m, nil
}

// AddParticipant stores p as a new participant of meeting p.MeetingID, with a
// random id and the current time; the ID and CreatedAt given are ignored. It
// returns ErrNotFound if the meeting does not exist.
func (s *SQLite) AddParticipant(ctx context.Context, p Participant) (Participant, error) {
	p.ID = uuid.NewString()
	p.CreatedAt = s.stamp()
	// One statement, so a meeting cannot vanish between a check and the insert.
	res, err := s.db.ExecContext(ctx, `INSERT INTO participants
		(id, meeting_id, name, preset_name, custom_participant_id, created_at)
		SELECT ?, id, ?, ?, ?, ? FROM meetings WHERE id = ?`,
		p.ID, p.Name, p.PresetName, p.CustomParticipantID, p.CreatedAt.UnixMilli(), p.MeetingID)
	if err != nil {
		return Participant{}, fmt.Errorf("store: add participant: %w", err)
	}
	if n, err := res.RowsAffected(); err != nil {
		return Participant{}, fmt.Errorf("store: add participant: %w", err)
	} else if n == 0 {
		return Participant{}, ErrNotFound
	}
	return p, nil
}

const participantColumns = `id, meeting_id, name, preset_name, custom_participant_id, created_at, token_generation`

// GetParticipant returns participant id of meeting meetingID, or ErrNotFound
// (also when the participant exists but belongs to another meeting).
func (s *SQLite) GetParticipant(ctx context.Context, meetingID, id string) (Participant, error) {
	row := s.db.QueryRowContext(ctx, `SELECT `+participantColumns+`
		FROM participants WHERE meeting_id = ? AND id = ?`, meetingID, id)
	return scanOne(row)
}

// LookupParticipant returns the participant with this id, whatever its
// meeting, or ErrNotFound.
func (s *SQLite) LookupParticipant(ctx context.Context, id string) (Participant, error) {
	row := s.db.QueryRowContext(ctx, `SELECT `+participantColumns+` FROM participants WHERE id = ?`, id)
	return scanOne(row)
}

func scanOne(row *sql.Row) (Participant, error) { return oneParticipant(row.Scan, sql.ErrNoRows) }

// identitySQL reads a participant and its meeting's title.
const identityColumnsSQL = `SELECT p.id, p.meeting_id, p.name, p.preset_name, p.custom_participant_id, p.created_at, p.token_generation, m.title
	FROM participants p JOIN meetings m ON m.id = p.meeting_id WHERE `

const identitySQL = identityColumnsSQL + `p.id = `

// LookupIdentity implements Store.
func (s *SQLite) LookupIdentity(ctx context.Context, id string) (Participant, string, error) {
	return oneIdentity(s.db.QueryRowContext(ctx, identitySQL+`?`, id).Scan, sql.ErrNoRows)
}

// oneIdentity scans identitySQL's row.
func oneIdentity(scan func(...any) error, noRows error) (Participant, string, error) {
	var title string
	p, err := oneParticipant(func(dst ...any) error { return scan(append(dst, &title)...) }, noRows)
	return p, title, err
}

// ListParticipants returns a meeting's participants, oldest first, or
// ErrNotFound if the meeting does not exist. A meeting with no participants
// gives an empty, non-nil slice.
func (s *SQLite) ListParticipants(ctx context.Context, meetingID string) ([]Participant, error) {
	if _, err := s.GetMeeting(ctx, meetingID); err != nil {
		return nil, err
	}
	rows, err := s.db.QueryContext(ctx, `SELECT `+participantColumns+`
		FROM participants WHERE meeting_id = ? ORDER BY created_at, rowid`, meetingID)
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

// DeleteParticipant removes participant id of meeting meetingID, or returns
// ErrNotFound. A deleted participant no longer exists, so its tokens stop
// authenticating.
func (s *SQLite) DeleteParticipant(ctx context.Context, meetingID, id string) error {
	res, err := s.db.ExecContext(ctx, `DELETE FROM participants WHERE meeting_id = ? AND id = ?`, meetingID, id)
	if err != nil {
		return fmt.Errorf("store: delete participant: %w", err)
	}
	if n, err := res.RowsAffected(); err != nil {
		return fmt.Errorf("store: delete participant: %w", err)
	} else if n == 0 {
		return ErrNotFound
	}
	return nil
}

// NextTokenGeneration moves participant id of meeting meetingID to a new
// token generation, which revokes every token issued before, and returns it;
// ErrNotFound for an unknown participant.
func (s *SQLite) NextTokenGeneration(ctx context.Context, meetingID, id string) (int64, error) {
	var gen int64
	err := s.db.QueryRowContext(ctx, `UPDATE participants SET token_generation = token_generation + 1
		WHERE meeting_id = ? AND id = ? RETURNING token_generation`, meetingID, id).Scan(&gen)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return 0, ErrNotFound
	case err != nil:
		return 0, fmt.Errorf("store: next token generation: %w", err)
	}
	return gen, nil
}

// oneParticipant reads the one participant row a lookup found: noRows is
// the driver's "no row" error, which becomes ErrNotFound.
func oneParticipant(scan func(...any) error, noRows error) (Participant, error) {
	p, err := scanParticipant(scan)
	switch {
	case errors.Is(err, noRows):
		return Participant{}, ErrNotFound
	case err != nil:
		return Participant{}, fmt.Errorf("store: get participant: %w", err)
	}
	return p, nil
}

func scanParticipant(scan func(...any) error) (Participant, error) {
	var p Participant
	var created int64
	if err := scan(&p.ID, &p.MeetingID, &p.Name, &p.PresetName, &p.CustomParticipantID, &created, &p.TokenGeneration); err != nil {
		return Participant{}, err
	}
	p.CreatedAt = fromMillis(created)
	return p, nil
}

// Setting returns the value stored under key, or ErrNotFound.
func (s *SQLite) Setting(ctx context.Context, key string) ([]byte, error) {
	var v []byte
	err := s.db.QueryRowContext(ctx, `SELECT value FROM settings WHERE key = ?`, key).Scan(&v)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return nil, ErrNotFound
	case err != nil:
		return nil, fmt.Errorf("store: setting %q: %w", key, err)
	}
	return v, nil
}

// SettingOrInit returns the value stored under key. If there is none, it
// stores the value init returns and returns that; if another writer stored
// one first, the stored value wins.
func (s *SQLite) SettingOrInit(ctx context.Context, key string, init func() ([]byte, error)) ([]byte, error) {
	return settingOrInit(ctx, key, init, s.Setting, func(ctx context.Context, key string, v []byte) error {
		_, err := s.db.ExecContext(ctx, `INSERT INTO settings (key, value) VALUES (?, ?) ON CONFLICT(key) DO NOTHING`, key, v)
		return err
	})
}
