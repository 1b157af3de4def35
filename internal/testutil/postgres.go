package testutil

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"net/url"
	"os"
	"testing"

	"github.com/jackc/pgx/v5"
)

// PostgresSchema returns the URL of ROOMSD_TEST_POSTGRES_URL's database
// with search_path set to a new schema, dropped when the test ends; the
// test skips when the variable is not set.
func PostgresSchema(t testing.TB) string {
	t.Helper()
	ctx := context.Background()
	base := os.Getenv("ROOMSD_TEST_POSTGRES_URL")
	if base == "" {
		t.Skip("ROOMSD_TEST_POSTGRES_URL is not set; set it to a PostgreSQL URL, such as " +
			"postgres://postgres@127.0.0.1:5432/test?sslmode=disable, to run the tests on PostgreSQL")
	}
	b := make([]byte, 8)
	rand.Read(b)
	name := "roomsd_test_" + hex.EncodeToString(b)
	conn, err := pgx.Connect(ctx, base)
	if err != nil {
		t.Fatalf("connect to %s: %v", base, err)
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, `CREATE SCHEMA `+name); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		conn, err := pgx.Connect(ctx, base)
		if err != nil {
			t.Error(err)
			return
		}
		defer conn.Close(ctx)
		if _, err := conn.Exec(ctx, `DROP SCHEMA `+name+` CASCADE`); err != nil {
			t.Error(err)
		}
	})
	u, err := url.Parse(base)
	if err != nil {
		t.Fatal(err)
	}
	q := u.Query()
	q.Set("search_path", name)
	u.RawQuery = q.Encode()
	return u.String()
}
