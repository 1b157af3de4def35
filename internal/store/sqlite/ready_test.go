package sqlite_test

import (
	"context"
	"database/sql"
	"path/filepath"
	"strings"
	"testing"

	"github.com/roomsd/roomsd/internal/store/sqlite"
)

// Ready fails, saying why, on a database behind this build's migrations
// (a newer binary started on an older database's copy, say).
func TestReadyNeedsEveryMigration(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "roomsd.db")
	st, err := sqlite.Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	if err := st.Ready(ctx); err != nil {
		t.Fatalf("Ready on a migrated database: %v", err)
	}
	db, err := sql.Open("sqlite", path)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if _, err := db.ExecContext(ctx, `DELETE FROM schema_migrations WHERE version = (SELECT max(version) FROM schema_migrations)`); err != nil {
		t.Fatal(err)
	}
	if err := st.Ready(ctx); err == nil || !strings.Contains(err.Error(), "this build needs") {
		t.Errorf("Ready with the last migration missing: %v", err)
	}
}
