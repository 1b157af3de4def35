package sqlite_test

import (
	"context"
	"database/sql"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/roomsd/roomsd/internal/store"
	"github.com/roomsd/roomsd/internal/store/sqlite"
	"github.com/roomsd/roomsd/internal/store/sqlite/seed"
)

// TestQueryPlansUseIndexes checks that every statement of the list path is
// answered from an index: the count and the page of ListRooms under each
// filter, the lookups by id and unique_name, and the include_sessions
// loads. A table scan would make page 1 of a million rooms cost as much as
// reading them all. The plans are taken on a seeded database (without
// ANALYZE, like a production file) through the store's own connections.
func TestQueryPlansUseIndexes(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "plan.db")
	if _, err := seed.Rooms(ctx, path, 20_000); err != nil {
		t.Fatal(err)
	}
	db := openStore(t, path).ReadDB()

	day := seed.Start.Add(seed.Span / 2).Truncate(24 * time.Hour)
	oneDay := store.TimeRange{From: day, Until: day.Add(24 * time.Hour)}
	from := store.TimeRange{From: day}
	until := store.TimeRange{Until: day}
	name := seed.Name(123)
	filters := map[string]store.RoomFilter{
		"none":                            {},
		"created_at eq":                   {CreatedAt: oneDay},
		"created_at gte":                  {CreatedAt: from},
		"created_at lte":                  {CreatedAt: until},
		"updated_at eq":                   {UpdatedAt: oneDay},
		"updated_at gte":                  {UpdatedAt: from},
		"updated_at lte":                  {UpdatedAt: until},
		"created_at + updated_at":         {CreatedAt: oneDay, UpdatedAt: oneDay},
		"created_at gte + updated_at lte": {CreatedAt: from, UpdatedAt: until},
		"created_at lte + updated_at gte": {CreatedAt: until, UpdatedAt: from},
		"unique_name":                     {UniqueName: &name},
		"unique_name + date":              {UniqueName: &name, CreatedAt: oneDay},
	}
	after := []any{seed.Start.Add(seed.Span / 3).UnixMicro(), "m"} // a page's last key
	for label, f := range filters {
		countSQL, page, args := sqlite.ListRoomsSQL(f)
		checkPlan(t, db, label+": count", countSQL, false, args...)
		twice := append(append([]any{}, args...), args...)
		checkPlan(t, db, label+": page", page(false, true), label == "none", append(twice, 20, 100_000)...)
		// The next page after a served one seeks to where it ended: a
		// range of the index, never a walk, with or without the count.
		seekArgs := sqlite.SeekArgs(f)
		checkPlan(t, db, label+": next page", page(true, true), false, append(append(append(append([]any{}, args...), seekArgs...), after...), 20)...)
		checkPlan(t, db, label+": next page, total known", page(true, false), false, append(append(append([]any{}, seekArgs...), after...), 20)...)
	}
	ids := []any{"a", "b", "c"}
	checkPlan(t, db, "room by id", sqlite.RoomByIDSQL, false, "x")
	checkPlan(t, db, "sessions by rooms", sqlite.SessionsByRoomsSQL(len(ids)), false, ids...)
	checkPlan(t, db, "participants by sessions", sqlite.ParticipantsBySessionsSQL(len(ids)), false, ids...)
}

// checkPlan fails when the plan of query reads a table other than through
// an index or its primary key. Unless walk is set, it also fails on a walk
// over a whole index ("SCAN ... USING INDEX"): only ranges are allowed. The
// unfiltered page is the one walk: it follows the list order down a
// covering index and stops after the page.
func checkPlan(t *testing.T, db *sql.DB, label, query string, walk bool, args ...any) {
	t.Helper()
	rows, err := db.QueryContext(context.Background(), "EXPLAIN QUERY PLAN "+query, args...)
	if err != nil {
		t.Fatalf("%s: %v", label, err)
	}
	defer rows.Close()
	var plan []string
	for rows.Next() {
		var id, parent, notused int
		var detail string
		if err := rows.Scan(&id, &parent, &notused, &detail); err != nil {
			t.Fatalf("%s: %v", label, err)
		}
		plan = append(plan, detail)
	}
	if err := rows.Err(); err != nil {
		t.Fatalf("%s: %v", label, err)
	}
	if len(plan) == 0 {
		t.Fatalf("%s: empty plan", label)
	}
	t.Logf("%s: %q", label, plan)
	for _, step := range plan {
		scan, search := strings.HasPrefix(step, "SCAN "), strings.HasPrefix(step, "SEARCH ")
		indexed := strings.Contains(step, " USING ") &&
			(strings.Contains(step, "INDEX") || strings.Contains(step, "PRIMARY KEY"))
		switch {
		case (scan || search) && !indexed:
			t.Errorf("%s: plan reads a table without an index: %q\nquery: %s\nplan: %q", label, step, query, plan)
		case scan && !(walk && strings.Contains(step, "COVERING INDEX")):
			t.Errorf("%s: plan walks a whole index instead of a range: %q\nquery: %s\nplan: %q", label, step, query, plan)
		}
	}
}
