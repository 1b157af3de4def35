package postgres

import (
	"io/fs"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/roomsd/roomsd/internal/store"
)

// Hooks for the external tests of this package.

// PagerCounts returns how many list pages were read by seeking and how
// many with an OFFSET.
func (s *Store) PagerCounts() (seeks, offsets int64) {
	return s.pager.seeks.Load(), s.pager.offsets.Load()
}

// Pool is the store's connection pool.
func (s *Store) Pool() *pgxpool.Pool { return s.pool }

// Statement is a statement text and its arguments.
type Statement struct {
	SQL  string
	Args []any
}

// SeekStatements are the statements that read page 2 of size 20 of each
// list by seeking, keyed by a name for the list and its filter.
func SeekStatements() map[string]Statement {
	p := store.Page{Number: 2, Size: 20}
	last := []any{int64(1 << 50), "~"}
	seq := []any{int64(1 << 50), int64(1 << 40)}
	room := "r"
	base := time.Date(2024, 3, 10, 0, 0, 0, 0, time.UTC)
	out := map[string]Statement{}
	add := func(name string, sql string, args []any) { out[name] = Statement{sql, args} }
	for name, f := range map[string]store.RoomFilter{
		"rooms":         {},
		"rooms created": {CreatedAt: store.TimeRange{From: base, Until: base.Add(1 << 40)}},
		"rooms updated": {UpdatedAt: store.TimeRange{From: base}},
	} {
		sql, args := roomsListing(f).pageSQL(p, last, false)
		add(name, sql, args)
	}
	var w where
	sql, args := tableListing("sessions", "room_sessions", sessionColumns, "id", w, order{"created_at", "id"}, scanSession, nil).pageSQL(p, last, false)
	add("sessions", sql, args)
	sql, args = tableListing("participants", "room_participants", participantColumns, "id", w, order{"joined_at", "id"}, scanParticipant, nil).pageSQL(p, last, false)
	add("participants", sql, args)
	sql, args = tableListing("recordings", "room_recordings", recordingColumns, "id", w, recordingOrder, scanRecording, nil).pageSQL(p, last, false)
	add("recordings", sql, args)
	sql, args = tableListing("compositions", "room_compositions", compositionColumns, "id", w, order{"created_at", "id"}, scanComposition, nil).pageSQL(p, last, false)
	add("compositions", sql, args)
	sql, args = tableListing("deliveries", "webhook_events", deliveryColumns, "seq", w, order{"created_at", "seq"}, scanDelivery, nil).pageSQL(p, seq, false)
	add("deliveries", sql, args)
	var rw where
	rw.eq("room_id", &room)
	sql, args = tableListing("sessions of a room", "room_sessions", sessionColumns, "id", rw, order{"created_at", "id"}, scanSession, nil).pageSQL(p, last, false)
	add("sessions of a room", sql, args)
	return out
}

// ForgetPages drops every remembered page end.
func (s *Store) ForgetPages() { s.pager.marks.Clear() }

// MigrationCount is how many migrations are embedded.
func MigrationCount() int {
	names, _ := fs.Glob(migrations, "migrations/*.sql")
	return len(names)
}
