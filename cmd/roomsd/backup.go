package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os/signal"
	"syscall"

	"github.com/roomsd/roomsd/internal/config"
	"github.com/roomsd/roomsd/internal/store/sqlite"
)

const backupUsage = `Usage: roomsd backup [--db DATABASE] --to FILE

Copies a SQLite database to a new file while the server runs: the copy
is the whole database as of one moment (VACUUM INTO), compacted, ready to
be used as ROOMSD_DB. Recordings and compositions live in the data
directory, not in the database: back that directory up too. A PostgreSQL
database is backed up with its own tools (pg_dump).

Flags:
%s`

func backupMain(args []string, getenv func(string) string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("roomsd backup", flag.ContinueOnError)
	fs.SetOutput(stderr)
	db := fs.String("db", envDefault(getenv, "./roomsd.db", "ROOMSD_DB"), "the server's SQLite database file (env ROOMSD_DB)")
	to := fs.String("to", "", "the new file to write the copy to (it must not exist)")
	fs.Usage = usageWith(fs, stdout, backupUsage)
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	switch {
	case fs.NArg() > 0:
		fmt.Fprintf(stderr, "roomsd backup: unexpected argument %q; run \"roomsd backup --help\"\n", fs.Arg(0))
		return 2
	case *to == "":
		fmt.Fprintln(stderr, "roomsd backup: --to is required: the new file to write the copy to")
		return 2
	case (config.Config{DB: *db}).IsPostgres():
		fmt.Fprintln(stderr, "roomsd backup: the database is PostgreSQL: back it up with pg_dump (or your provider's backups)")
		return 2
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	if err := sqlite.Backup(ctx, *db, *to); err != nil {
		fmt.Fprintf(stderr, "roomsd backup: %v\n", err)
		return 1
	}
	fmt.Fprintf(stdout, "Backed up %s to %s.\n", *db, *to)
	return 0
}
