package sqlite

import "database/sql"

// Hooks for the external tests of this package (plan_test.go).

// ListRoomsSQL is listRoomsSQL: the exact statements ListRooms runs.
var ListRoomsSQL = listRoomsSQL

// ReadDB is the read-only connection pool the store queries through.
func (s *Store) ReadDB() *sql.DB { return s.reader }

// More statement texts, for the plan test.
var (
	SessionsByRoomsSQL        = sessionsByRoomsSQL
	ParticipantsBySessionsSQL = participantsBySessionsSQL
)

const RoomByIDSQL = roomByIDSQL
