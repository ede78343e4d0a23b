// Package store keeps meetings and participants in an embedded SQLite
// database (modernc.org/sqlite, no cgo), so they survive a restart.
package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/google/uuid"
	_ "modernc.org/sqlite"
)

// ErrNotFound is returned for an unknown meeting or participant.
var ErrNotFound = errors.New("not found")

// Meeting is a webinar room.
type Meeting struct {
	ID        string    `json:"id"`
	Title     string    `json:"title"`
	CreatedAt time.Time `json:"created_at"`
}

// Participant is someone allowed into a meeting; ID is its userId.
type Participant struct {
	ID                  string    `json:"id"`
	MeetingID           string    `json:"meeting_id"`
	Name                string    `json:"name"`
	PresetName          string    `json:"preset_name"`
	CustomParticipantID string    `json:"custom_participant_id"`
	CreatedAt           time.Time `json:"created_at"`
}

// Store is the SQLite-backed storage.
type Store struct {
	db *sql.DB
}

const schemaVersion = 1

var migrations = []string{
	`CREATE TABLE meetings (
		id TEXT PRIMARY KEY,
		title TEXT NOT NULL,
		created_at INTEGER NOT NULL
	)`,
	`CREATE TABLE participants (
		id TEXT PRIMARY KEY,
		meeting_id TEXT NOT NULL REFERENCES meetings(id) ON DELETE CASCADE,
		name TEXT NOT NULL,
		preset_name TEXT NOT NULL,
		custom_participant_id TEXT NOT NULL,
		created_at INTEGER NOT NULL
	)`,
	`CREATE INDEX participants_meeting ON participants(meeting_id, created_at)`,
	`CREATE TABLE settings (key TEXT PRIMARY KEY, value BLOB NOT NULL)`,
}

// Open opens (creating if needed) the database in dir.
func Open(dir string) (*Store, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("data dir: %w", err)
	}
	dsn := "file:" + filepath.Join(dir, "stagekit.db") +
		"?_pragma=journal_mode(WAL)&_pragma=busy_timeout(5000)&_pragma=foreign_keys(1)&_pragma=synchronous(NORMAL)"
	db, err := sql.Open("sqlite", dsn)
	if err != nil {
		return nil, err
	}
	db.SetMaxOpenConns(1) // one writer; SQLite serialises anyway
	s := &Store{db: db}
	if err := s.migrate(); err != nil {
		db.Close()
		return nil, err
	}
	return s, nil
}

func (s *Store) migrate() error {
	var v int
	if err := s.db.QueryRow(`PRAGMA user_version`).Scan(&v); err != nil {
		return fmt.Errorf("read schema version: %w", err)
	}
	if v > schemaVersion {
		return fmt.Errorf("database schema %d is newer than this server (%d)", v, schemaVersion)
	}
	if v == schemaVersion {
		return nil
	}
	tx, err := s.db.Begin()
	if err != nil {
		return err
	}
	defer tx.Rollback()
	for _, m := range migrations {
		if _, err := tx.Exec(m); err != nil {
			return fmt.Errorf("migrate: %w", err)
		}
	}
	if _, err := tx.Exec(fmt.Sprintf(`PRAGMA user_version = %d`, schemaVersion)); err != nil {
		return err
	}
	return tx.Commit()
}

// Close closes the database.
func (s *Store) Close() error { return s.db.Close() }

// CreateMeeting stores a new meeting.
func (s *Store) CreateMeeting(ctx context.Context, title string) (Meeting, error) {
	m := Meeting{ID: uuid.NewString(), Title: title, CreatedAt: time.Now().UTC().Truncate(time.Millisecond)}
	_, err := s.db.ExecContext(ctx, `INSERT INTO meetings (id, title, created_at) VALUES (?, ?, ?)`,
		m.ID, m.Title, m.CreatedAt.UnixMilli())
	return m, err
}

// GetMeeting returns a meeting or ErrNotFound.
func (s *Store) GetMeeting(ctx context.Context, id string) (Meeting, error) {
	var m Meeting
	var created int64
	err := s.db.QueryRowContext(ctx, `SELECT id, title, created_at FROM meetings WHERE id = ?`, id).
		Scan(&m.ID, &m.Title, &created)
	if errors.Is(err, sql.ErrNoRows) {
		return Meeting{}, ErrNotFound
	}
	m.CreatedAt = time.UnixMilli(created).UTC()
	return m, err
}

// AddParticipant stores a participant of an existing meeting.
func (s *Store) AddParticipant(ctx context.Context, p Participant) (Participant, error) {
	if _, err := s.GetMeeting(ctx, p.MeetingID); err != nil {
		return Participant{}, err
	}
	p.ID = uuid.NewString()
	p.CreatedAt = time.Now().UTC().Truncate(time.Millisecond)
	_, err := s.db.ExecContext(ctx, `INSERT INTO participants (id, meeting_id, name, preset_name, custom_participant_id, created_at)
		VALUES (?, ?, ?, ?, ?, ?)`, p.ID, p.MeetingID, p.Name, p.PresetName, p.CustomParticipantID, p.CreatedAt.UnixMilli())
	return p, err
}

// GetParticipant returns a meeting's participant or ErrNotFound.
func (s *Store) GetParticipant(ctx context.Context, meetingID, id string) (Participant, error) {
	row := s.db.QueryRowContext(ctx, `SELECT id, meeting_id, name, preset_name, custom_participant_id, created_at
		FROM participants WHERE meeting_id = ? AND id = ?`, meetingID, id)
	p, err := scanParticipant(row.Scan)
	if errors.Is(err, sql.ErrNoRows) {
		return Participant{}, ErrNotFound
	}
	return p, err
}

// ListParticipants returns a meeting's participants, oldest first.
func (s *Store) ListParticipants(ctx context.Context, meetingID string) ([]Participant, error) {
	if _, err := s.GetMeeting(ctx, meetingID); err != nil {
		return nil, err
	}
	rows, err := s.db.QueryContext(ctx, `SELECT id, meeting_id, name, preset_name, custom_participant_id, created_at
		FROM participants WHERE meeting_id = ? ORDER BY created_at, rowid`, meetingID)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := []Participant{}
	for rows.Next() {
		p, err := scanParticipant(rows.Scan)
		if err != nil {
			return nil, err
		}
		out = append(out, p)
	}
	return out, rows.Err()
}

// DeleteParticipant removes a participant; its tokens stop working.
func (s *Store) DeleteParticipant(ctx context.Context, meetingID, id string) error {
	res, err := s.db.ExecContext(ctx, `DELETE FROM participants WHERE meeting_id = ? AND id = ?`, meetingID, id)
	if err != nil {
		return err
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return ErrNotFound
	}
	return nil
}

// Setting returns a stored value, creating it with make when absent.
func (s *Store) Setting(ctx context.Context, key string, make func() ([]byte, error)) ([]byte, error) {
	var v []byte
	err := s.db.QueryRowContext(ctx, `SELECT value FROM settings WHERE key = ?`, key).Scan(&v)
	if err == nil {
		return v, nil
	}
	if !errors.Is(err, sql.ErrNoRows) {
		return nil, err
	}
	if v, err = make(); err != nil {
		return nil, err
	}
	if _, err := s.db.ExecContext(ctx, `INSERT INTO settings (key, value) VALUES (?, ?)`, key, v); err != nil {
		return nil, err
	}
	return v, nil
}

func scanParticipant(scan func(...any) error) (Participant, error) {
	var p Participant
	var created int64
	err := scan(&p.ID, &p.MeetingID, &p.Name, &p.PresetName, &p.CustomParticipantID, &created)
	p.CreatedAt = time.UnixMilli(created).UTC()
	return p, err
}
