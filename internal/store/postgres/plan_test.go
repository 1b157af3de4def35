package postgres_test

import (
	"context"
	"sort"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/roomsd/roomsd/internal/store/postgres"
)

// A page read by seeking is a range scan of the list's index from where
// the previous page ended: no sort, so its cost is its own rows, however
// deep in the list it is. With scans of whole tables ruled out (the test
// tables are tiny), each seek statement must have such a plan.
func TestSeekPlans(t *testing.T) {
	ctx := context.Background()
	u := freshSchema(t)
	openStore(t, u)
	conn, err := pgx.Connect(ctx, u)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, `SET enable_seqscan = off`); err != nil {
		t.Fatal(err)
	}
	stmts := postgres.SeekStatements()
	names := make([]string, 0, len(stmts))
	for name := range stmts {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		st := stmts[name]
		rows, err := conn.Query(ctx, `EXPLAIN `+st.SQL, st.Args...)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		var plan []string
		for rows.Next() {
			var line string
			if err := rows.Scan(&line); err != nil {
				t.Fatal(err)
			}
			plan = append(plan, line)
		}
		if err := rows.Err(); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		text := strings.Join(plan, "\n")
		t.Logf("%s:\n%s", name, text)
		if strings.Contains(text, "Sort") || !strings.Contains(text, "Index") {
			t.Errorf("%s: the seek is not a walk down an index:\n%s", name, text)
		}
	}
}
